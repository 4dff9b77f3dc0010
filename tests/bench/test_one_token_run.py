"""The harness on a model whose answer is known (tests/reference/one_token.py): a run must put the oracle
ranking at the protocol maximum (tests/engine/test_faithfulness.py), the random ranking short of it
(it rarely puts the one token in the small bins), and say so in its analysis."""

from __future__ import annotations

import pytest
import torch

from attnserve.text.codec import encode_text
from bench.eval.candidates import Candidate, contiguous_tree, random_ranking
from bench.eval.models import EvalModel
from bench.eval.run import measure
from bench.eval.stats import analyse
from tests.reference.one_token import WORD, OneTokenModel, texts


@pytest.fixture(scope="module")
def subject(tokenizer) -> EvalModel:
    model = OneTokenModel(tokenizer.convert_tokens_to_ids(WORD)).eval()
    return EvalModel("one-token", model, tokenizer, 64, texts(), "a hand-built model")


def oracle(subject: EvalModel) -> Candidate:
    """Scores 1 on the one token that matters, 0 elsewhere."""
    token = subject.model.token

    def explain(text: str, _index: int) -> torch.Tensor:
        return (torch.tensor(encode_text(subject.tokenizer, text, subject.max_length).ids) == token).float()

    return Candidate("oracle", True, True, explain)


def test_random_ranking_falls_short_and_the_run_says_so(subject) -> None:
    explainer = subject.explainer(max_forward_passes=1000)
    measured = measure(subject, explainer, [oracle(subject), random_ranking(subject, seed=0)], subject.texts)
    analysis = analyse(measured)
    best, floor = analysis.summary("oracle"), analysis.summary("random")
    assert best.metrics["comp"].mean == pytest.approx(0.6, abs=1e-6)
    assert floor.metrics["comp"].mean < 0.5
    assert analysis.best["comp"] == "oracle" and analysis.best["suff"] == "oracle"
    assert best.metrics["comp_del"].mean == pytest.approx(0.6, abs=1e-6) and analysis.best["comp_del"] == "oracle"
    assert floor.vs_best["comp"].mean < -2 * floor.vs_best["comp"].se
    assert floor.latency_ratio is None and analysis.pareto == ["oracle"]


@pytest.mark.parametrize("n", [2, 3, 7, 16])
def test_partition_tree_is_a_valid_linkage_over_adjacent_spans(n: int) -> None:
    from scipy.cluster.hierarchy import is_valid_linkage, leaves_list

    tree = contiguous_tree(n)
    assert is_valid_linkage(tree) and tree[-1, 3] == n
    assert leaves_list(tree).tolist() == list(range(n))
