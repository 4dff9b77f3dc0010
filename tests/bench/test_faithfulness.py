"""The harness's metrics where the answer is known: a model whose output depends on one token only.

Ranking that token first must reach the most the protocol allows: with the k = 0 bin contributing
nothing, comp ≤ (|K|−1)/(|K|+1)·p(x), and the model drops p to 0 once the token is masked. The random
ranking must fall short of it, since it rarely puts that token in the small bins.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from attnserve.text import encode_text
from bench.eval.candidates import Candidate, contiguous_tree, random_ranking
from bench.eval.metrics import AOPC_BINS, PAPER_BINS, faithfulness, top
from bench.eval.models import EvalModel
from bench.eval.run import measure
from bench.eval.stats import analyse
from tests.conftest import LABELS

FILLER = "the film runs long and the cast walks through scenes while the score hums along quietly"


class OneTokenModel(nn.Module):
    """Positive, with probability σ(40) ≈ 1, exactly when ``token`` is present; negative otherwise."""

    def __init__(self, token: int) -> None:
        super().__init__()
        self.token = token
        self.scale = nn.Parameter(torch.tensor(20.0), requires_grad=False)
        self.config = SimpleNamespace(id2label=dict(enumerate(LABELS)), num_labels=len(LABELS))

    def forward(self, input_ids, **_inputs) -> SimpleNamespace:
        sign = (input_ids == self.token).any(-1).float() * 2 - 1
        return SimpleNamespace(logits=torch.stack([-sign, sign], -1) * self.scale)


@pytest.fixture(scope="module")
def subject(tokenizer) -> EvalModel:
    token = tokenizer.convert_tokens_to_ids("great")
    words = FILLER.split()
    texts = [" ".join([*words[:cut], "great", *words[cut:]]) for cut in range(0, 16, 2)]
    return EvalModel("one-token", OneTokenModel(token).eval(), tokenizer, 64, texts, "a hand-built model")


def oracle(subject: EvalModel) -> Candidate:
    """Scores 1 on the one token that matters, 0 elsewhere."""
    token = subject.model.token

    def explain(text: str, _index: int) -> torch.Tensor:
        return (torch.tensor(encode_text(subject.tokenizer, text, subject.max_length).ids) == token).float()

    return Candidate("oracle", True, True, explain)


def test_ranking_the_token_first_reaches_the_protocol_maximum(subject) -> None:
    text = subject.texts[3]
    row = subject.row(text)
    assert row.target == 1 and row.n == 18
    metrics = faithfulness(row, oracle(subject).explain(text, 0))
    assert metrics["comp"] == pytest.approx((len(PAPER_BINS) - 1) / (len(PAPER_BINS) + 1), abs=1e-6)
    assert metrics["aopc_comp"] == pytest.approx(len(AOPC_BINS) / (len(AOPC_BINS) + 1), abs=1e-6)
    assert metrics["suff"] == pytest.approx(1 / (len(PAPER_BINS) + 1), abs=1e-6)  # only k = 0 masks it
    assert metrics["aopc_suff"] == pytest.approx(0, abs=1e-6)
    assert metrics["comp_del"] == pytest.approx(metrics["comp"], abs=1e-6)  # deleting it drops p to 0 too


def test_random_ranking_falls_short_and_the_run_says_so(subject, tokenizer) -> None:
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


def test_bins_take_the_ceiling_of_their_share() -> None:
    scores = torch.arange(30.0)
    assert [len(top(scores, k)) for k in (0, 1, 5, 10, 20, 50)] == [0, 1, 2, 3, 6, 15]
    assert top(scores, 10).tolist() == [29, 28, 27]


@pytest.mark.parametrize("n", [2, 3, 7, 16])
def test_partition_tree_is_a_valid_linkage_over_adjacent_spans(n: int) -> None:
    from scipy.cluster.hierarchy import is_valid_linkage, leaves_list

    tree = contiguous_tree(n)
    assert is_valid_linkage(tree) and tree[-1, 3] == n
    assert leaves_list(tree).tolist() == list(range(n))
