"""Packaging a user's checkpoint: tiny randomly initialised models of each family, built here from
configs (no hub access), saved with save_pretrained, packaged, and answered through the real handler;
families the engine cannot explain are refused by name, with the reason, and nothing is written."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    DeiTForImageClassification,
    ViTForImageClassification,
)

from handlers.explain_handler import ExplainHandler
from model_store.package import PackagingError, describe, main, package
from tests.recipes.served_archive import answer

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
TEXT = {
    "bert": {},
    "roberta": {"max_position_embeddings": 130},
    "electra": {"embedding_size": 32},
    "xlm-roberta": {"max_position_embeddings": 130},
    "distilbert": {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64},
    "albert": {"embedding_size": 16, "num_hidden_layers": 3},  # one shared layer, run three times
    "deberta-v2": {  # relative-position (c2p, p2c) attention, as DeBERTa-v3
        "relative_attention": True,
        "pos_att_type": ["p2c", "c2p"],
        "position_buckets": 16,
        "max_relative_positions": 64,
        "position_biased_input": False,
    },
    "modernbert": {
        "num_hidden_layers": 3,
        "global_attn_every_n_layers": 2,
        "local_attention": 8,
        "pad_token_id": 0,
        "bos_token_id": 101,
        "eos_token_id": 102,
        "cls_token_id": 101,
        "sep_token_id": 102,
    },
}
LABELS = {0: "no", 1: "yes"}


def save_text_model(folder: Path, family: str, tokenizer, extra: dict) -> Path:
    sizes = {"vocab_size": tokenizer.vocab_size, "max_position_embeddings": 128, **SMALL, **extra}
    config = AutoConfig.for_model(family, id2label=LABELS, **sizes)
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("family", sorted(TEXT))
def test_a_text_family_is_packaged_and_answers(family: str, tokenizer, tmp_path: Path) -> None:
    source = save_text_model(tmp_path / "checkpoint", family, tokenizer, TEXT[family])
    mar = package(source, f"my-{family}", export_dir=tmp_path / "store")
    response = answer(mar, {"text": "A gorgeous, moving film.", "methods": ["gae", "shapley_mutual"]}, tmp_path / "x")
    assert response["label"] in LABELS.values()
    assert len(response["attributions"]["gae"]["tokens"]) == len(response["tokens"]) > 0
    card = json.loads((tmp_path / "x" / "model_card.json").read_text())
    assert card["family"] == family and card["labels"] == {"0": "no", "1": "yes"}


def test_facts_come_from_the_checkpoint(tokenizer, tmp_path: Path) -> None:
    source = save_text_model(tmp_path, "roberta", tokenizer, TEXT["roberta"])
    bundle = describe(source, "r")
    assert bundle.labels == ("no", "yes") and bundle.modality == "text"
    assert bundle.max_length == 128  # 130 position embeddings, 2 of them offset by RoBERTa's padding index


def save_image_model(folder: Path, family: str, channels: int) -> Path:
    config = AutoConfig.for_model(family, image_size=28, patch_size=4, num_channels=channels, id2label=LABELS, **SMALL)
    model_class = {"vit": ViTForImageClassification, "deit": DeiTForImageClassification}[family]
    torch.manual_seed(0)
    model_class(config).save_pretrained(folder)
    processor = {
        "image_processor_type": "ViTImageProcessor",
        "size": {"height": 28, "width": 28},
        "image_mean": [0.5] * channels,
        "image_std": [0.5] * channels,
        "do_resize": True,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


@pytest.mark.parametrize(("family", "channels"), [("vit", 3), ("deit", 1)])
def test_an_image_family_is_packaged_and_answers_over_patches(family: str, channels: int, tmp_path: Path) -> None:
    """DeiT reads two special tokens ([CLS], distillation) before the patches, ViT one; an RGB model
    reads colour, a grayscale one luma."""
    source = save_image_model(tmp_path / family, family, channels)
    assert describe(source, "v").modality == "image"
    mar = package(source, f"my-{family}", export_dir=tmp_path / "store")
    image = base64.b64encode(png(28, seed=0)).decode()
    response = answer(mar, {"image": image, "methods": ["gae", "shapley_cls"]}, tmp_path / "x", ExplainHandler)
    assert response["patches"]["grid"] == [7, 7]
    assert all(len(scores["patches"]) == 49 for scores in response["attributions"].values())


def image_folder(folder: Path, count: int, level: tuple[int, int], size: int = 40) -> Path:
    """``count`` RGB PNGs whose pixels lie in ``level`` (larger than the model's input: they are resized)."""
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i:03d}.png").write_bytes(png(size, seed=i, low=level[0], high=level[1], rgb=True))
    return folder


def test_image_folders_give_an_image_model_tcav_and_the_learned_explainer(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATTNSERVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ATTNSERVE_BUDGET", "quick")
    source = save_image_model(tmp_path / "vit", "vit", 3)
    concepts = tmp_path / "concepts"
    image_folder(concepts / "bright", 12, (200, 256))
    image_folder(concepts / "dark", 12, (0, 56))
    image_folder(concepts / "random", 30, (0, 256))
    inputs = image_folder(tmp_path / "inputs", 12, (0, 256))
    mar = package(source, "vit-extras", export_dir=tmp_path / "store", concepts=concepts, explainer_inputs=inputs)
    image = base64.b64encode(png(28, seed=99, rgb=True)).decode()
    body = {"image": image, "methods": ["tcav", "amortized_shapley"]}
    response = answer(mar, body, tmp_path / "x", ExplainHandler)
    assert set(response["concepts"]) == {"bright", "dark"}
    assert len(response["attributions"]["amortized_shapley"]["patches"]) == 49
    card = json.loads((tmp_path / "x" / "model_card.json").read_text())
    assert card["amortized_shapley"]["budget"] == "quick"


def test_image_extras_need_folders(tmp_path: Path) -> None:
    source = save_image_model(tmp_path / "vit", "vit", 1)
    image_folder(tmp_path / "concepts" / "bright", 3, (200, 256))
    with pytest.raises(PackagingError, match=r"random/"):
        package(source, "x", export_dir=tmp_path / "store", concepts=tmp_path / "concepts")
    (tmp_path / "texts.txt").write_text("one\n" * 20)
    with pytest.raises(PackagingError, match="folder of PNG or JPEG"):
        package(source, "x", export_dir=tmp_path / "store", explainer_inputs=tmp_path / "texts.txt")
    assert not (tmp_path / "store" / "x.mar").exists()


def png(size: int, seed: int = 0, low: int = 0, high: int = 256, rgb: bool = False) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    shape = (size, size, 3) if rgb else (size, size)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(low, high, shape, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("family", "extra", "said"),
    [
        ("gpt2", {"n_embd": 32, "n_layer": 2, "n_head": 2, "pad_token_id": 0}, "causal attention"),
    ],
)
def test_an_unsupported_family_is_refused_by_name_and_nothing_is_written(
    family: str, extra: dict, said: str, tokenizer, tmp_path: Path
) -> None:
    source = save_text_model(tmp_path / "checkpoint", family, tokenizer, extra)
    with pytest.raises(PackagingError, match=said) as refused:
        package(source, "nope", export_dir=tmp_path / "store")
    assert family in str(refused.value)
    assert not (tmp_path / "store" / "nope.mar").exists()


def test_the_cli_says_what_is_wrong(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path), "--name", "x"]) == 1
    assert "no config.json" in capsys.readouterr().err
    assert main([str(tmp_path), "--name", "../x"]) == 2


def test_unlabelled_texts_train_the_learned_explainer(tokenizer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATTNSERVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ATTNSERVE_BUDGET", "quick")
    source = save_text_model(tmp_path / "checkpoint", "bert", tokenizer, {})
    texts = tmp_path / "texts.txt"
    texts.write_text(
        "\n".join(f"review {i}: a {'fine' if i % 2 else 'dull'} film, {i} minutes long." for i in range(30))
    )
    mar = package(source, "with-explainer", export_dir=tmp_path / "store", explainer_inputs=texts)
    response = answer(mar, {"text": "A gorgeous, moving film.", "methods": ["amortized_shapley"]}, tmp_path / "x")
    assert len(response["attributions"]["amortized_shapley"]["tokens"]) == len(response["tokens"])
    card = json.loads((tmp_path / "x" / "model_card.json").read_text())
    assert card["amortized_shapley"]["budget"] == "quick" and card["family"] == "bert"


def test_too_few_explainer_inputs_are_refused_before_anything_runs(tokenizer, tmp_path: Path) -> None:
    source = save_text_model(tmp_path / "checkpoint", "bert", tokenizer, {})
    (tmp_path / "texts.txt").write_text("one\ntwo\n")
    with pytest.raises(PackagingError, match="at least 10"):
        package(source, "x", export_dir=tmp_path / "store", explainer_inputs=tmp_path / "texts.txt")


def test_concept_files_give_the_model_tcav(tokenizer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATTNSERVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ATTNSERVE_BUDGET", "quick")
    source = save_text_model(tmp_path / "checkpoint", "bert", tokenizer, {})
    folder = tmp_path / "concepts"
    folder.mkdir()
    (folder / "praise.txt").write_text("\n".join(f"a wonderful, great film number {i}." for i in range(16)))
    (folder / "weather.txt").write_text("\n".join(f"it rained for {i} days in the north." for i in range(16)))
    (folder / "random.txt").write_text("\n".join(f"the {i}th item on the list was a chair." for i in range(40)))
    mar = package(source, "with-concepts", export_dir=tmp_path / "store", concepts=folder)
    response = answer(mar, {"text": "A gorgeous, moving film.", "methods": ["tcav"]}, tmp_path / "x")
    assert set(response["concepts"]) == {"praise", "weather"}


def test_a_concept_folder_without_counterparts_is_refused(tokenizer, tmp_path: Path) -> None:
    source = save_text_model(tmp_path / "checkpoint", "bert", tokenizer, {})
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "praise.txt").write_text("great\n")
    with pytest.raises(PackagingError, match=r"random\.txt"):
        package(source, "x", export_dir=tmp_path / "store", concepts=tmp_path / "concepts")
