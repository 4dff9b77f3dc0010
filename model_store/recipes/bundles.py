"""One bundle per model: `model_store/<name>/bundle.yaml` holds every fact about the model, once.

A model is served, built and evaluated by what its bundle says: modality, labels, max length, the
training settings its recipe module reads (``model``), TorchServe's batch settings (``torchserve``), the
handler's (``handler``), its concepts and its learned explainer. Adding a model is one folder with a
bundle plus the recipe module it names; nothing else in the code lists models.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from model_store.recipes.keys import REPO_ROOT

BUNDLE_FILE = "bundle.yaml"
BUDGET_ENV = "ATTNSERVE_BUDGET"  # "quick": every stage's `quick` overrides (tests, CI); else the release budget
MODALITIES = ("text", "image")
_SECTIONS = {"version", "modality", "recipe", "labels", "max_length", "model", "torchserve", "handler"}
_OPTIONAL = {"concepts", "amortized"}


@dataclass(frozen=True)
class Bundle:
    name: str
    folder: Path
    version: str
    modality: str
    recipe_module: str  # dotted name of the module that loads the data and trains the weights
    labels: tuple[str, ...]
    max_length: int | None  # positions per text, as trained and served; None for images
    model: dict[str, Any]
    torchserve: dict[str, Any]
    handler: dict[str, Any]
    concepts: dict[str, Any] | None = None
    amortized: dict[str, Any] | None = None

    @property
    def recipe(self) -> ModuleType:
        return importlib.import_module(self.recipe_module)

    @property
    def recipe_file(self) -> Path:
        """The recipe module's source, found without importing it (computing a key must stay cheap)."""
        spec = importlib.util.find_spec(self.recipe_module)
        if spec is None or spec.origin is None:
            raise ValueError(f"{self.folder / BUNDLE_FILE}: recipe module {self.recipe_module!r} not found")
        return Path(spec.origin)

    @property
    def identity(self) -> dict[str, Any]:
        """The facts every stage depends on: part of every key."""
        return {"modality": self.modality, "labels": list(self.labels), "max_length": self.max_length}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def handler_settings(self) -> dict[str, Any]:
        """What the handler reads (the `handler:` section of the packed model-config.yaml)."""
        derived = {"modality": self.modality, **({"max_length": self.max_length} if self.max_length else {})}
        return {**derived, **self.handler}

    def model_config(self) -> dict[str, Any]:
        """TorchServe's per-model config, packed into the archive with --config-file."""
        return {**self.torchserve, "handler": self.handler_settings()}


def budget() -> str:
    value = os.environ.get(BUDGET_ENV, "full")
    if value not in ("full", "quick"):
        raise ValueError(f"{BUDGET_ENV} must be 'full' or 'quick', got {value!r}")
    return value


def with_budget(section: dict[str, Any]) -> dict[str, Any]:
    """A stage's settings with its ``quick`` overrides applied under the quick budget: an override that
    is a mapping updates the setting of that name key by key, any other replaces it."""
    settings = {k: v for k, v in section.items() if k != "quick"}
    if budget() != "quick":
        return settings
    for name, value in section.get("quick", {}).items():
        merge = isinstance(value, dict) and isinstance(settings.get(name), dict)
        settings[name] = {**settings[name], **value} if merge else value
    return settings


def load_bundle(folder: Path) -> Bundle:
    """Parse and check one bundle: a typo must fail the build, not silently change a model."""
    import yaml

    path = folder / BUNDLE_FILE
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - _SECTIONS - _OPTIONAL
    missing = _SECTIONS - set(spec) - ({"max_length"} if spec.get("modality") == "image" else set())
    if unknown or missing:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}, missing sections {sorted(missing)}")
    if spec["modality"] not in MODALITIES:
        raise ValueError(f"{path}: modality {spec['modality']!r} is not one of {', '.join(MODALITIES)}")
    if len(spec["labels"]) < 2 or len(set(spec["labels"])) != len(spec["labels"]):
        raise ValueError(f"{path}: labels must be two or more distinct names")
    return Bundle(
        name=folder.name,
        folder=folder,
        version=str(spec["version"]),
        modality=spec["modality"],
        recipe_module=spec["recipe"],
        labels=tuple(spec["labels"]),
        max_length=spec.get("max_length"),
        model=spec["model"],
        torchserve=spec["torchserve"],
        handler=spec["handler"] or {},
        concepts=spec.get("concepts"),
        amortized=spec.get("amortized"),
    )


def discover(root: Path = REPO_ROOT) -> dict[str, Bundle]:
    """Every model with a bundle under `<root>/model_store`, by name."""
    found = sorted((root / "model_store").glob(f"*/{BUNDLE_FILE}"))
    return {path.parent.name: load_bundle(path.parent) for path in found}
