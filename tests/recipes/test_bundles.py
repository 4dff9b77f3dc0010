"""A bundle is checked when it is read: a typo in model_store/<name>/bundle.yaml must fail the build, not
silently change a model; and the budget picks each section's settings."""

from __future__ import annotations

import pytest

from model_store.recipes.bundles import BUDGET_ENV, budget, discover, with_budget
from tests.bundles import sections, write_bundle


def test_every_model_folder_is_discovered_with_its_facts() -> None:
    bundles = discover()
    assert {"sentiment", "topics", "fashion"} <= set(bundles)
    fashion, sentiment = bundles["fashion"], bundles["sentiment"]
    assert (fashion.modality, fashion.max_length, len(fashion.labels)) == ("image", None, 10)
    assert sentiment.id2label == {0: "negative", 1: "positive"} and sentiment.recipe.__name__ == sentiment.recipe_module
    assert sentiment.model_config()["handler"]["max_length"] == sentiment.max_length == 128
    assert "max_length" not in fashion.handler_settings() and fashion.handler_settings()["modality"] == "image"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.update(concept={}), r"unknown sections \['concept'\]"),
        (lambda s: s.pop("torchserve"), r"missing sections \['torchserve'\]"),
        (lambda s: s.pop("max_length"), r"missing sections \['max_length'\]"),
        (lambda s: s.update(modality="audio"), "modality 'audio'"),
        (lambda s: s.update(labels=["yes", "yes"]), "two or more distinct"),
    ],
)
def test_a_bad_bundle_fails_naming_its_file(tmp_path, edit, message: str) -> None:
    spec = sections("sentiment")
    edit(spec)
    with pytest.raises(ValueError, match=rf"bad/bundle\.yaml: .*{message}"):
        write_bundle(tmp_path / "bad", spec)


def test_an_image_bundle_needs_no_max_length(tmp_path) -> None:
    spec = sections("fashion")
    assert "max_length" not in spec and write_bundle(tmp_path / "img", spec).max_length is None


def test_the_quick_budget_applies_overrides_merging_mappings(monkeypatch) -> None:
    section = {"inputs": 100, "head": {"hidden": 64, "epochs": 80}, "quick": {"inputs": 4, "head": {"epochs": 2}}}
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert budget() == "full" and with_budget(section) == {"inputs": 100, "head": {"hidden": 64, "epochs": 80}}
    monkeypatch.setenv(BUDGET_ENV, "quick")
    assert with_budget(section) == {"inputs": 4, "head": {"hidden": 64, "epochs": 2}}
    assert section["head"] == {"hidden": 64, "epochs": 80}  # the bundle's own section is left alone
    monkeypatch.setenv(BUDGET_ENV, "fast")
    with pytest.raises(ValueError, match=BUDGET_ENV):
        budget()
