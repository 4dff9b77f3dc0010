"""The fashion ViT in the harness: its loader, patch masking by a keep-mask, and quick mode end to end."""

from __future__ import annotations

import json

import pytest
import torch

from attnserve.methods import REGISTRY
from attnserve.methods.registry import ATTRIBUTIONS
from bench.eval.__main__ import main
from bench.eval.models import MODELS
from tests.bundles import require_release


@pytest.fixture(scope="module")
def fashion():
    require_release("fashion")
    return MODELS["fashion"]()


def test_fashion_loader_gives_the_test_images_and_a_49_patch_grid(fashion) -> None:
    assert len(fashion.texts) == 10_000 and fashion.texts[0] == "test/0"
    assert fashion.spec.grid == (7, 7) and fashion.n_tokens("test/0") == 49
    refused = fashion.explainer(1).refused  # the image explainer refuses what its records do not list
    assert "integrated_gradients" in refused and "rollout" not in refused
    assert "image" in fashion.body("test/0")


def test_masking_all_patches_changes_the_input_and_masking_none_leaves_it(fashion) -> None:
    row = fashion.row("test/0")
    assert row.n == 49
    pixels = row.masked_pixels(torch.stack([torch.ones(49), torch.zeros(49)]).bool())
    assert torch.equal(pixels[0], row.pixels[0])
    assert not torch.equal(pixels[1], row.pixels[0])
    assert torch.all(pixels[1] == fashion.spec.black.flatten()[0])  # black everywhere
    one = torch.zeros(1, 49, dtype=torch.bool)
    one[0, 8] = True  # patch (1, 1): pixels 4..7 × 4..7 kept, the rest black
    kept = row.masked_pixels(one)[0, 0]
    assert torch.equal(kept[4:8, 4:8], row.pixels[0, 0, 4:8, 4:8])
    assert torch.all(kept[:4] == row.fill) and torch.all(kept[8:] == row.fill)
    probabilities = row.presence_probability(torch.ones(1, 49, dtype=torch.bool))
    assert probabilities.shape == (1,) and probabilities[0] > 0.1  # the predicted class on the full image


def test_quick_mode_on_fashion_runs_every_attention_method_and_skips_the_baselines(tmp_path) -> None:
    require_release("fashion")
    assert main(["--model", "fashion", "--quick", "--count", "2", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "fashion.json").read_text())
    names = {summary["name"] for summary in report["summaries"]}
    attention = {name for name, m in REGISTRY.items() if "image" in m.modalities and m.output == ATTRIBUTIONS}
    assert names == attention | {"random"}
    assert "black pixels" in report["masking"] and "kernel_shap" in report["skipped"]
    assert "Not run:" in (tmp_path / "fashion.md").read_text()
