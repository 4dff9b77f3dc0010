"""amortized_shapley's build half: the teacher against enumeration, deterministic training on a tiny model
with a tiny budget, the bundle's settings under either budget, keys that follow the code, and a model dir
that serves the method without importing the training code."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model_store.recipes import amortized, keys
from model_store.recipes.bundles import BUDGET_ENV, discover
from model_store.recipes.shapley_targets import compute_targets, orders, permutation_shapley
from tests.bundles import sections, write_bundle
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
    positions=32,
    permutations=4,
    batch=64,
    seed=7,
    width=16,
    heads=2,
    layers=1,
    epochs=3,
    lr=0.01,
    weight_decay=0.0,
    budget="quick",
)


# Two networks (the second narrower) and the subgame pass: what the sentiment bundle ships, in small.
MEMBERS = [replace(SETTINGS, subgame=0.2), replace(SETTINGS, width=8, subgame=0.2)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_bert, tokenizer) -> Path:
    """The tiny BERT as an assembled checkpoint: weights, tokenizer and the model cards."""
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_bert.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "model_card.json").write_text(json.dumps({"version": "0.1"}))
    (path / "MODEL_CARD.md").write_text("# tiny v0.1\n")
    return path


@pytest.fixture(scope="module")
def subject(tmp_path_factory, model_dir) -> amortized.Subject:
    """The tiny model behind the served explainer, as the build loads it (a text bundle named tiny)."""
    bundle = write_bundle(tmp_path_factory.mktemp("bundles") / "tiny", sections("sentiment"))
    return amortized.subject(bundle, model_dir, SETTINGS)


def build_twice(model_dir: Path, root: Path, who: amortized.Subject) -> list[tuple[Path, Path]]:
    """(targets dir, stage dir) of two builds from scratch with the same inputs and settings."""
    built = []
    for attempt in ("a", "b"):
        targets, out = root / f"targets-{attempt}", root / f"staged-{attempt}"
        targets.mkdir()
        out.mkdir()
        compute_targets(model_dir, "text", SETTINGS.positions, TEXTS, None, SETTINGS, targets)
        block = amortized.Block(TEXTS, SETTINGS, 0, 0)
        plans = [(TEXTS, [block])] * len(MEMBERS)
        amortized._build("tiny", model_dir, who, MEMBERS, plans, [[targets]] * len(MEMBERS), out)
        built.append((targets, out))
    return built


@pytest.fixture(scope="module")
def built(tmp_path_factory, model_dir, subject) -> list[tuple[Path, Path]]:
    return build_twice(model_dir, tmp_path_factory.mktemp("amortized"), subject)


@pytest.fixture(scope="module")
def staged(built) -> list[Path]:
    return [out for _, out in built]


def test_training_is_deterministic(built) -> None:
    a, b = (torch.load(targets / "targets.pt", weights_only=True) for targets, _ in built)
    for x, y in zip(a["values"], b["values"], strict=True):
        assert torch.equal(x, y)
    first, second = (torch.load(out / "amortized.pt", weights_only=True) for _, out in built)
    assert len(first["networks"]) == len(second["networks"]) == 2 and first["subgame"] == 0.2
    for mine, theirs in zip(first["networks"], second["networks"], strict=True):
        assert mine["state"].keys() == theirs["state"].keys()
        for key in mine["state"]:
            assert torch.equal(mine["state"][key], theirs["state"][key]), key


def test_the_staged_dir_reports_validation_and_leaves_the_model_card_alone(staged, model_dir) -> None:
    card = json.loads((staged[0] / "model_card.json").read_text())
    report = card["amortized_shapley"]
    assert report["training_inputs"] == 6 and report["validation_inputs"] == 2
    assert [p["training_inputs"] for p in report["learning_curve"]] == [2, 3, 6]
    for key in ("rho", "comp", "suff", "teacher_comp", "teacher_suff"):
        assert math.isfinite(report["validation"][key])
        assert math.isfinite(report["members"][0]["validation"][key])
    assert report["members"][0]["network"]["width"] == 8
    assert math.isfinite(report["served"]["comp"]) and math.isfinite(report["served"]["suff"])
    assert "amortized_shapley" not in json.loads((model_dir / "model_card.json").read_text())
    markdown = (staged[0] / "MODEL_CARD.md").read_text()
    assert markdown.startswith("# tiny v0.1\n\n## Learned explainer") and "| 6 |" in markdown
    assert "| 1 | the first network's | 6 | 8 |" in markdown and "without the top 20%" in markdown


def test_extra_inputs_follow_with_fewer_orders_and_only_train() -> None:
    settings = replace(SETTINGS, inputs=8, block=4, extra_inputs=6, extra_permutations=2)
    pool = [f"text {i}" for i in range(20)]
    chosen = amortized.choose(pool, settings)
    alone = replace(settings, extra_inputs=0)
    assert len(chosen) == 14 and chosen[:8] == amortized.choose(pool, alone)
    parts = amortized.teachers(chosen, settings)
    assert [len(part) for part, _ in parts] == [4, 4, 4, 2]
    assert [teacher.permutations for _, teacher in parts] == [4, 4, 2, 2]
    # adding extra inputs leaves the first blocks' targets (and their cache keys) where they were
    keys = [amortized.targets_key("m", teacher, part, block) for block, (part, teacher) in enumerate(parts)]
    first = [
        amortized.targets_key("m", t, part, block)
        for block, (part, t) in enumerate(amortized.teachers(chosen[:8], alone))
    ]
    assert keys[:2] == first and len(set(keys)) == 4
    training, validation = amortized.split(settings, len(chosen))
    assert validation.tolist() == [6, 7]  # full-order targets only
    assert training.tolist() == [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]
    training, validation = amortized.split(settings, 5)  # a pool smaller than asked
    assert training.tolist() == [0, 1, 2, 3] and validation.tolist() == [4]


def test_a_networks_plan_reuses_the_first_ones_blocks_and_numbers_its_own_apart() -> None:
    settings = replace(SETTINGS, inputs=8, block=4, extra_inputs=6, extra_permutations=2)
    pool = [f"word {i} " * (3 + i % 6) for i in range(20)]
    items, first = amortized.plan(pool, settings)
    assert items == amortized.choose(pool, settings) and [b.number for b in first] == [0, 1, 2, 3]
    assert [b.start for b in first] == [0, 4, 8, 12]
    _, drawn = amortized.plan(pool, replace(settings, draws=3))

    # the extra inputs' blocks again, twice, each draw from its own seeds; the first blocks are untouched
    def where(blocks: list[amortized.Block]) -> list[tuple]:
        return [(b.items, b.number, b.start, b.teacher.permutations) for b in blocks]

    assert where(drawn[:4]) == where(first) and [b.number for b in drawn[4:]] == [102, 103, 202, 203]
    assert [b.items for b in drawn[4:]] == [first[2].items, first[3].items] * 2
    with_phrases, phrased = amortized.plan(pool, replace(settings, phrase_seed=5))
    training = amortized.split(settings, len(items))[0].tolist()
    long_enough = [items[row] for row in training if len(items[row].split()) >= amortized.PHRASE_MIN_WORDS]
    phrases = with_phrases[len(items) :]
    assert len(phrases) == len(long_enough) and all(p in s for p, s in zip(phrases, long_enough, strict=True))
    assert where(phrased[:4]) == where(first) and [b.number for b in phrased[4:]] == list(
        range(200, 200 + -(-len(phrases) // 4))
    )
    assert [b.start for b in phrased[4:]] == [len(items) + 4 * i for i in range(len(phrased) - 4)]
    assert all(b.teacher.permutations == 2 for b in phrased[4:])
    with pytest.raises(ValueError, match="numbering"):
        amortized.plan(pool, replace(settings, draws=3, phrase_seed=5, block=1))


def test_draws_of_the_same_inputs_are_averaged() -> None:
    a, b = amortized.Block(["x", "y"], SETTINGS, 0, 0), amortized.Block(["y"], SETTINGS, 100, 1)
    values = amortized.assemble(
        2, [(a, [torch.tensor([1.0]), torch.tensor([2.0, 4.0])]), (b, [torch.tensor([4.0, 0.0])])]
    )
    assert [v.tolist() for v in values] == [[1.0], [3.0, 2.0]]
    with pytest.raises(RuntimeError, match="no targets"):
        amortized.assemble(3, [(a, [torch.tensor([1.0]), torch.tensor([2.0])])])


def test_members_override_the_first_network_and_never_the_subgame(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    members = amortized.load_members(discover()["sentiment"])
    first = members[0]
    assert len(members) == 4 and first.subgame == 0.1 and {m.width for m in members[1:]} == {192}
    assert [m.draws for m in members] == [1, 2, 1, 1] and members[3].unlabelled_inputs == 20000
    assert all(m.inputs == first.inputs and m.seed == first.seed for m in members)  # one validation set
    monkeypatch.setenv(BUDGET_ENV, "quick")
    assert amortized.load_members(discover()["sentiment"])[3].unlabelled_inputs == 8
    spec = sections("sentiment")
    spec["amortized"]["members"] = [{"subgame": 0.3}]
    with pytest.raises(ValueError, match="member 1: subgame is the model's"):
        amortized.load_members(write_bundle(tmp_path / "own", spec))
    spec["amortized"]["members"] = [{"widht": 3}]
    with pytest.raises(ValueError, match=r"member 1: .*widht"):
        amortized.load_members(write_bundle(tmp_path / "typo", spec))


def test_quick_budget_overrides_the_bundle(monkeypatch) -> None:
    bundle = discover()["sentiment"]
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    full = amortized.load_settings(bundle)
    monkeypatch.setenv(BUDGET_ENV, "quick")
    quick = amortized.load_settings(bundle)
    assert quick.inputs < full.inputs and quick.budget == "quick" and full.budget == "full"
    assert (
        replace(
            quick,
            inputs=full.inputs,
            extra_inputs=full.extra_inputs,
            permutations=full.permutations,
            epochs=full.epochs,
            budget="full",
        )
        == full
    )
    monkeypatch.setenv(BUDGET_ENV, "lavish")
    with pytest.raises(ValueError, match=BUDGET_ENV):
        amortized.load_settings(bundle)


def test_teacher_positions_default_to_the_bundles_max_length(monkeypatch) -> None:
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    bundles = discover()
    assert amortized.load_settings(bundles["sentiment"]).positions == bundles["sentiment"].max_length == 128
    assert amortized.load_settings(bundles["topics"]).positions == 48  # its teacher_positions
    assert amortized.load_settings(bundles["fashion"]).positions == 0  # images: the patches, uncut


def test_an_unknown_setting_fails_naming_the_bundle(tmp_path) -> None:
    spec = sections("sentiment")
    spec["amortized"]["permutation"] = 3
    bundle = write_bundle(tmp_path / "typo", spec)
    with pytest.raises(ValueError, match=r"typo/bundle\.yaml, amortized: .*permutation"):
        amortized.load_settings(bundle)


SERVE = """
import json, sys
from ts.context import Context
from handlers.explain_handler import ExplainHandler
context = Context("tiny", sys.argv[1], {}, 8, None, "0.12.0", model_yaml_config={})
handler = ExplainHandler()
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


def test_the_model_dir_serves_it_without_the_training_code(staged, model_dir, tmp_path) -> None:
    """The checkpoint with the stage's files beside it, as build.staged lays out a servable dir."""
    served = tmp_path / "served"
    shutil.copytree(model_dir, served)
    for path in staged[0].iterdir():
        shutil.copy2(path, served / path.name)
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(served)], capture_output=True, text=True, cwd=REPO, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["training_modules"] == []
    assert len(found["scores"]) > 0 and any(x != 0 for x in found["scores"])


def edited(path: Path):
    """A stand-in for ``keys._source_sha`` under which ``path`` (and only it) has been edited."""
    real = keys._source_sha
    return lambda source: "edited" if source == path.resolve() else real(source)


def test_an_edit_to_any_of_the_network_code_changes_its_key(monkeypatch) -> None:
    """Both files named amortized.py count: the stage's own and the network's."""
    recipe, network = REPO / "model_store/recipes/amortized.py", REPO / "attnserve/methods/amortized.py"
    found = {}
    for name, path in (("none", None), ("recipe", recipe), ("network", network)):
        with monkeypatch.context() as m:
            if path is not None:
                m.setattr(keys, "_source_sha", edited(path))
            found[name] = amortized.amortized_key("model", [["targets"]], [SETTINGS])
    assert len(set(found.values())) == 3


def test_the_targets_follow_the_game_and_not_the_network(monkeypatch) -> None:
    """Targets cost an hour per release: only an edit to the teacher or the masking game recomputes them."""
    base = amortized.targets_key("model", SETTINGS, TEXTS)
    for path, changes in (("attnserve/text/game.py", True), ("attnserve/methods/amortized.py", False)):
        with monkeypatch.context() as m:
            m.setattr(keys, "_source_sha", edited(REPO / path))
            assert (amortized.targets_key("model", SETTINGS, TEXTS) != base) == changes, path
    assert amortized.targets_key("model", SETTINGS, TEXTS, block=1) != base
    assert amortized.targets_key("model", replace(SETTINGS, epochs=9), TEXTS) == base
