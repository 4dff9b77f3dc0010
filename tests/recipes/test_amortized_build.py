"""amortized_shapley's build half: the teacher against enumeration, deterministic training on a tiny model
with a tiny budget, and an archive dir that serves the method without importing the training code."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bench.eval.models import EvalModel
from model_store.recipes import amortized
from model_store.recipes.shapley_targets import orders, permutation_shapley
from tests.reference.shapley_bruteforce import shapley_values

REPO = Path(__file__).resolve().parents[2]
TEXTS = [
    "Not bad, actually quite fun.",
    "A dull, plodding mess.",
    "Gorgeous and moving.",
    "The plot never quite holds together, but the cast is terrific.",
    "Too long by half.",
    "An instant classic.",
    "I wanted to like it more than I did.",
    "Witty, warm and wise.",
]


def interacting_game(n: int, seed: int):
    """v(S) = sigmoid(Σ_{i∈S} w_i + Σ_{i<j∈S} u_ij): not additive, so orders disagree on each gain."""
    generator = torch.Generator().manual_seed(seed)
    w, u = torch.randn(n, generator=generator), torch.randn(n, n, generator=generator).triu(1)

    def batch(present: torch.Tensor) -> torch.Tensor:
        x = present.double()
        return torch.sigmoid(x @ w.double() + torch.einsum("ki,ij,kj->k", x, u.double(), x))

    def single(coalition: frozenset[int]) -> float:
        present = torch.zeros(1, n, dtype=torch.bool)
        present[0, list(coalition)] = True
        return float(batch(present)[0])

    return batch, single


def test_enumerates_every_order_when_that_is_no_dearer() -> None:
    game, single = interacting_game(4, seed=1)
    phi = permutation_shapley(game, 4, math.factorial(4), torch.Generator().manual_seed(0), batch=7)
    assert phi.double().numpy() == pytest.approx(shapley_values(4, single), abs=1e-6)


def test_sampled_orders_come_in_reversed_pairs_and_keep_efficiency() -> None:
    drawn = orders(9, 6, torch.Generator().manual_seed(0))
    assert drawn.shape == (6, 9)
    for order, reverse in zip(drawn[::2], drawn[1::2], strict=True):
        assert torch.equal(order.flip(0), reverse)
    game, single = interacting_game(9, seed=2)
    phi = permutation_shapley(game, 9, 6, torch.Generator().manual_seed(0), batch=16)
    total = single(frozenset(range(9))) - single(frozenset())
    assert float(phi.sum()) == pytest.approx(total, abs=1e-5)


def test_sampling_converges_to_the_exact_values() -> None:
    game, single = interacting_game(7, seed=3)
    exact = shapley_values(7, single)
    errors = []
    for count in (4, 400):
        phi = permutation_shapley(game, 7, count, torch.Generator().manual_seed(0), batch=512)
        errors.append(float(abs(phi.double().numpy() - exact).max()))
    assert errors[1] < errors[0] / 3 and errors[1] < 0.02


SETTINGS = amortized.Settings(
    modality="text",
    inputs=len(TEXTS),
    validation=0.25,
    max_length=32,
    permutations=4,
    batch=64,
    seed=7,
    hidden=8,
    epochs=3,
    lr=0.01,
    weight_decay=0.0,
    budget="quick",
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_bert, tokenizer) -> Path:
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_bert.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "model_card.json").write_text(json.dumps({"version": "0.1"}))
    return path


def build_twice(model_dir: Path, root: Path, tiny_bert, tokenizer) -> list[tuple[Path, Path]]:
    """(targets dir, staged dir) of two builds from scratch with the same inputs and settings."""
    who = EvalModel("tiny", tiny_bert, tokenizer, SETTINGS.max_length, TEXTS, "test")
    built = []
    for attempt in ("a", "b"):
        targets, out = root / f"targets-{attempt}", root / f"staged-{attempt}"
        targets.mkdir()
        out.mkdir()
        amortized.compute_targets(who, TEXTS, SETTINGS, targets)
        amortized._build("tiny", model_dir, who, TEXTS, SETTINGS, [targets], out)
        built.append((targets, out))
    return built


@pytest.fixture(scope="module")
def built(tmp_path_factory, model_dir, tiny_bert, tokenizer) -> list[tuple[Path, Path]]:
    return build_twice(model_dir, tmp_path_factory.mktemp("amortized"), tiny_bert, tokenizer)


@pytest.fixture(scope="module")
def staged(built) -> list[Path]:
    return [out for _, out in built]


def test_training_is_deterministic(built) -> None:
    a, b = (torch.load(targets / "targets.pt", weights_only=True) for targets, _ in built)
    for x, y in zip(a["values"], b["values"], strict=True):
        assert torch.equal(x, y)
    first, second = (torch.load(out / "amortized.pt", weights_only=True) for _, out in built)
    assert first["state"].keys() == second["state"].keys()
    for key in first["state"]:
        assert torch.equal(first["state"][key], second["state"][key]), key


def test_the_staged_dir_reports_validation_and_leaves_the_model_card_alone(staged, model_dir) -> None:
    card = json.loads((staged[0] / "model_card.json").read_text())
    report = card["amortized_shapley"]
    assert report["training_inputs"] == 6 and report["validation_inputs"] == 2
    assert [p["training_inputs"] for p in report["learning_curve"]] == [2, 3, 6]
    for key in ("rho", "comp", "suff", "teacher_comp", "teacher_suff"):
        assert math.isfinite(report["validation"][key])
    assert "amortized_shapley" not in json.loads((model_dir / "model_card.json").read_text())
    assert "| 6 |" in (staged[0] / "MODEL_CARD.md").read_text()


def test_quick_budget_overrides_the_file(monkeypatch) -> None:
    path = REPO / "model_store" / "sentiment" / amortized.CONFIG_FILE
    monkeypatch.delenv(amortized.BUDGET_ENV, raising=False)  # `make test` itself runs under the quick budget
    full = amortized.load_settings(path)
    monkeypatch.setenv(amortized.BUDGET_ENV, "quick")
    quick = amortized.load_settings(path)
    assert quick.inputs < full.inputs and quick.budget == "quick"
    assert replace(quick, inputs=full.inputs, permutations=full.permutations, epochs=full.epochs, budget="full") == full
    monkeypatch.setenv(amortized.BUDGET_ENV, "lavish")
    with pytest.raises(ValueError, match=amortized.BUDGET_ENV):
        amortized.load_settings(path)


SERVE = """
import json, sys
from ts.context import Context
from handlers.text_handler import TextExplainHandler
context = Context("tiny", sys.argv[1], {}, 8, None, "0.12.0", model_yaml_config={})
handler = TextExplainHandler()
handler.initialize(context)
from ts.service import Service
body = json.dumps({"text": "Not bad, actually quite fun.", "methods": ["amortized_shapley"]}).encode()
request = {"requestId": b"0", "parameters": [{"name": "body", "value": body, "contentType": "application/json"}]}
headers, batch, ids = Service.retrieve_data_for_inference([request])
context.request_ids, context.request_processor = ids, headers
(answer,) = handler.handle(batch, context)
scores = json.loads(answer)["attributions"]["amortized_shapley"]["tokens"]
training = sorted(m for m in sys.modules if m.split(".")[0] in ("model_store", "bench", "sklearn"))
print(json.dumps({"scores": scores, "training_modules": training}))
"""


def test_the_archive_dir_serves_it_without_the_training_code(staged) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(staged[0])], capture_output=True, text=True, cwd=REPO, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["training_modules"] == []
    assert len(found["scores"]) > 0 and any(x != 0 for x in found["scores"])


def test_an_edit_to_any_of_the_network_code_changes_its_key(monkeypatch) -> None:
    """Each file of HEAD_CODE counts, including the two that share the name amortized.py."""
    keys = set()
    for edited in (None, *amortized.HEAD_CODE):  # None: nothing edited
        monkeypatch.setattr(amortized, "file_sha256", lambda p, edited=edited: "edited" if p == edited else "same")
        keys.add(amortized.amortized_key("model", ["targets"], SETTINGS))
    assert len(keys) == 1 + len(amortized.HEAD_CODE)
