"""Text concepts: real training sentences that contain a concept's words, from offline lexicons.

A concept is a word list (VADER's negators, boosters or valence lexicon; an Empath category) turned
into examples by picking sentences of the model's own *training* split that contain one of the words
(never its held-out test set, which stays clean for evaluation and global scores). Its counterparts are
sentences of a random pool drawn from the same split that contain none of them; the random-vs-random
CAVs draw from that pool too.
"""

from __future__ import annotations

import importlib.util
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_store.recipes.keys import file_sha256

if TYPE_CHECKING:
    from torch import Tensor

    from model_store.recipes.bundles import Bundle
    from model_store.recipes.concept_examples import Examples

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")  # keeps "n't" contractions whole, as VADER's NEGATE lists them
BATCH = 64


def words(text: str) -> set[str]:
    """Lower-cased word set of a sentence, with typographic apostrophes folded so "don’t" matches "don't"."""
    return set(WORD.findall(text.lower().replace("’", "'")))


def _vader_file(name: str) -> Path:
    return _package_dir("vaderSentiment", "vaderSentiment==3.3.2") / name


def _package_dir(package: str, pin: str) -> Path:
    """Data packages are located, not imported (empath's `__init__` pulls in `requests`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} missing: pip install --no-deps {pin}")
    return Path(spec.submodule_search_locations[0])


def _vader_module() -> Any:
    import vaderSentiment.vaderSentiment as vader  # stdlib-only module: NEGATE and BOOSTER_DICT live here

    return vader


def vader_valence(spec: dict[str, Any]) -> set[str]:
    """Lexicon words (emoticons excluded) whose mean human rating is ≥ `min` or ≤ `max` (scale −4..4)."""
    low, high = spec.get("max", float("-inf")), spec.get("min", float("inf"))
    found = set()
    for line in _vader_file("vader_lexicon.txt").read_text(encoding="utf-8", errors="replace").splitlines():
        word, mean = line.split("\t")[:2]
        if word.isalpha() and (float(mean) >= high or float(mean) <= low):
            found.add(word)
    return found


def vader_negate(spec: dict[str, Any]) -> set[str]:
    return set(_vader_module().NEGATE)


def vader_boosters(spec: dict[str, Any]) -> set[str]:
    """Single-word boosters that raise intensity (VADER's dampeners, with negative weight, are left out)."""
    return {w for w, weight in _vader_module().BOOSTER_DICT.items() if weight > 0 and " " not in w}


def empath(spec: dict[str, Any]) -> set[str]:
    path = _package_dir("empath", "empath==0.89") / "data" / "categories.tsv"
    for line in path.read_text(encoding="utf-8").splitlines():
        name, *members = line.split("\t")
        if name == spec["category"]:
            return set(members)
    raise KeyError(f"no Empath category {spec['category']!r}")


LEXICONS: dict[str, Callable[[dict[str, Any]], set[str]]] = {
    "vader_valence": vader_valence,
    "vader_negate": vader_negate,
    "vader_boosters": vader_boosters,
    "empath": empath,
}


def concept_words(spec: dict[str, Any]) -> set[str]:
    """The declared lexicon minus the declared `exclude` (words too ambiguous in this domain)."""
    if spec["lexicon"] not in LEXICONS:
        raise ValueError(f"unknown lexicon {spec['lexicon']!r}; known: {', '.join(LEXICONS)}")
    return LEXICONS[spec["lexicon"]](spec) - set(spec.get("exclude", []))


def data_key() -> dict[str, str]:
    """The lexicon files (the source sentences are pinned by the model key, which hashes its data)."""
    return {
        "vader_lexicon": file_sha256(_vader_file("vader_lexicon.txt")),
        "vader_module": file_sha256(_vader_file("vaderSentiment.py")),
        "empath": file_sha256(_package_dir("empath", "empath==0.89") / "data" / "categories.tsv"),
    }


def build_examples(bundle: Bundle, model_dir: Path, settings: dict[str, Any], concepts: dict[str, Any]) -> Examples:
    """Activations of each concept's sentences, its counterparts and the random pool (see concepts.py).

    A concept is either a lexicon (its sentences: the model's training sentences, from its recipe's
    `concept_sentences`, that contain one of its words) or an ``examples_file`` of sentences, one per
    line (a packaged model's own concept set). The random pool is drawn from ``pool_file`` when the
    settings give one, else from the training sentences."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from model_store.recipes.cav import mean_hidden_states
    from model_store.recipes.concept_examples import ConceptExamples, Examples

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rng = random.Random(settings["seed"])
    if "pool_file" in settings:
        sentences = [(line, None) for line in lines(Path(settings["pool_file"]))]
    else:
        sentences = bundle.recipe.concept_sentences(bundle)
    pool = rng.sample(sentences, min(settings["pool"], len(sentences)))

    def activations(texts: list[str]) -> Tensor:
        def batches() -> Iterator[tuple[dict[str, Tensor], Tensor]]:
            for i in range(0, len(texts), BATCH):
                encoded = tokenizer(
                    texts[i : i + BATCH],
                    padding=True,
                    truncation=True,
                    max_length=bundle.max_length,
                    return_tensors="pt",
                )
                yield dict(encoded), encoded["attention_mask"]

        return mean_hidden_states(model, batches())

    pool_acts = activations([text for text, _ in pool])
    found = []
    for name, spec in concepts.items():
        if "examples_file" in spec:
            matches = lines(Path(spec["examples_file"]))
            outside = set(matches)
            clean = torch.tensor([t not in outside for t, _ in pool])
        else:
            vocabulary = concept_words(spec)
            label = spec.get("label")
            matches = [t for t, y in sentences if words(t) & vocabulary and label in (None, y)]
            clean = torch.tensor([not words(t) & vocabulary for t, _ in pool])
        if len(matches) < settings["min_examples"]:
            raise ValueError(f"concept {name!r}: only {len(matches)} sentences match, need {settings['min_examples']}")
        chosen = rng.sample(matches, min(settings["examples"], len(matches)))
        found.append(
            ConceptExamples(name, spec["description"], "random", activations(chosen), pool_acts[clean], chosen[:5])
        )
    return Examples(found, pool_acts, [text for text, _ in pool[:5]])


def lines(path: Path) -> list[str]:
    """The non-empty lines of a concept or pool file, each one example."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
