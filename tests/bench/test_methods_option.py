"""``--methods``: names checked before any model loads, only the named candidates measured, and a run
that the model cannot serve refused rather than reported without the method asked for."""

from __future__ import annotations

import json

import pytest

from bench.eval.__main__ import main, parse
from bench.eval.candidates import NAMES
from bench.eval.models import MODELS, EvalModel


@pytest.fixture
def tiny(monkeypatch, tiny_bert, tokenizer) -> EvalModel:
    """The tiny BERT in place of the sentiment model, so a run takes seconds."""
    texts = ["a warm and funny film", "dull, slow and far too long", "the cast is great"]
    subject = EvalModel("tiny", tiny_bert, tokenizer, 64, texts, "a tiny random BERT")
    monkeypatch.setitem(MODELS, "sentiment", lambda: subject)
    return subject


def test_methods_are_split_deduplicated_and_default_to_all() -> None:
    assert parse(["--methods", "gae, random,gae"]).methods == ["gae", "random"]
    assert parse([]).methods is None and {"random", "shap_partition", "kernel_shap"} <= set(NAMES)


@pytest.mark.parametrize("value", ["gae,nope", ","])
def test_unknown_methods_are_an_argparse_error_listing_the_known_ones(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(["--methods", value])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--methods" in error and all(name in error for name in NAMES)


def test_only_the_named_methods_run_and_the_report_says_which(tiny, tmp_path) -> None:
    argv = ["--quick", "--methods", "kernel_shap,gae,random", "--out", str(tmp_path)]
    assert main(argv) == 0
    report = json.loads((tmp_path / "sentiment.json").read_text())
    assert [s["name"] for s in report["summaries"]] == ["gae", "kernel_shap", "random"]
    assert report["settings"]["methods"] == ["gae", "kernel_shap", "random"]
    assert "kernel_shap samples" in report["settings"] and "integrated_gradients steps" not in report["settings"]
    assert all("comp_del" in s["metrics"] for s in report["summaries"])
    table = (tmp_path / "sentiment.md").read_text()
    assert "Methods run: `gae`, `kernel_shap`, `random`." in table and "| comp del ↑ |" in table
    assert "n/a" not in table


def test_a_method_the_model_refuses_stops_the_run(tiny, monkeypatch, tmp_path) -> None:
    class Refusing(EvalModel):
        def explainer(self, max_forward_passes: int):
            explainer = super().explainer(max_forward_passes)
            explainer.refused["kernel_shap"] = "refused for this test"
            return explainer

    monkeypatch.setitem(MODELS, "sentiment", lambda: Refusing(**vars(tiny)))
    with pytest.raises(SystemExit, match="cannot run kernel_shap"):
        main(["--quick", "--methods", "gae,kernel_shap", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())
