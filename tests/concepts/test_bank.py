"""The CAV file: round trip, refusal of other formats and inconsistent shapes, stacking for one einsum."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attnserve.concepts.bank import FORMAT_VERSION, RANDOM, CavBank, CavSet, load_cavs, save_cavs


def cav_set(name: str, k: int, layers: int = 3, dim: int = 8, counterpart: str = "random") -> CavSet:
    vectors = torch.nn.functional.normalize(torch.randn(k, layers, dim), dim=-1)
    sizes = {"concept": 10, "counterpart_pool": 50, "per_side": 10, "held_out": 6}
    return CavSet(name, counterpart, f"{name} examples", vectors, torch.rand(k, layers), sizes)


def make_bank() -> CavBank:
    concepts = {"striped": cav_set("striped", 4, counterpart="relative"), "dotted": cav_set("dotted", 2)}
    return CavBank("m", [0, 1, 2], 8, "mean", concepts, cav_set(RANDOM, 5), {"model_key": "abc"})


def test_round_trip(tmp_path: Path) -> None:
    bank = make_bank()
    save_cavs(bank, tmp_path / "cavs.pt")
    loaded = load_cavs(tmp_path / "cavs.pt")
    assert (loaded.model, loaded.layers, loaded.hidden_size, loaded.meta) == ("m", [0, 1, 2], 8, {"model_key": "abc"})
    assert list(loaded.concepts) == ["striped", "dotted"]
    for name, original in [*bank.concepts.items(), (RANDOM, bank.random)]:
        got = loaded.random if name == RANDOM else loaded.concepts[name]
        torch.testing.assert_close(got.vectors, original.vectors)
        torch.testing.assert_close(got.accuracy, original.accuracy)
        assert (got.counterpart, got.description, got.sizes) == (
            original.counterpart,
            original.description,
            original.sizes,
        )


def test_other_formats_and_versions_are_refused(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"not an attnserve\.cavs file"):
        load_cavs(tmp_path / "other.pt")
    raw = make_bank().to_dict()
    raw["format_version"] = FORMAT_VERSION + 1
    torch.save(raw, tmp_path / "newer.pt")
    with pytest.raises(ValueError, match="format version"):
        load_cavs(tmp_path / "newer.pt")


def test_inconsistent_shapes_and_names_are_refused(tmp_path: Path) -> None:
    bad = CavBank("m", [0, 1], 8, "mean", {"striped": cav_set("striped", 2)}, cav_set(RANDOM, 2))  # 3 layers stored
    with pytest.raises(ValueError, match="striped"):
        save_cavs(bad, tmp_path / "bad.pt")
    clash = CavBank("m", [0, 1, 2], 8, "mean", {RANDOM: cav_set(RANDOM, 2)}, cav_set(RANDOM, 2))
    with pytest.raises(ValueError, match="reserved"):
        save_cavs(clash, tmp_path / "clash.pt")


def test_stacked_puts_layers_first_and_names_every_column() -> None:
    bank = make_bank()
    vectors, owners = bank.stacked()
    assert vectors.shape == (3, 6, 8)
    assert owners == [("striped", 0), ("striped", 1), ("striped", 2), ("striped", 3), ("dotted", 0), ("dotted", 1)]
    torch.testing.assert_close(vectors[:, 4], bank.concepts["dotted"].vectors[0])
    vectors, owners = bank.stacked(["dotted", RANDOM])
    assert vectors.shape == (3, 7, 8) and owners[2:] == [(RANDOM, i) for i in range(5)]
    with pytest.raises(KeyError, match="available: striped, dotted"):
        bank.stacked(["zebra"])


def test_directions_are_unit_means_of_each_concepts_cavs() -> None:
    bank = make_bank()
    directions, names = bank.directions()
    assert directions.shape == (3, 2, 8) and names == ["striped", "dotted"]
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(3, 2))
    mean = bank.concepts["dotted"].vectors.mean(0)
    torch.testing.assert_close(directions[:, 1], mean / mean.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(bank.concepts["dotted"].mean_accuracy(), bank.concepts["dotted"].accuracy.mean(0))
    assert bank.directions(["dotted"])[1] == ["dotted"]
