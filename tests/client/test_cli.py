"""The CLI's argument parsing and rendering (the CLI against the real server is in
tests/integration/test_client_cli.py)."""

from __future__ import annotations

import json

import pytest
from attnserve_client import Explanation
from attnserve_client.cli import _options, _target, build_parser, main, render


def test_explain_arguments() -> None:
    args = build_parser().parse_args(
        ["explain", "a text", "--method", "shapley_cls", "--method", "rollout", "--grpc", "--html", "out.html"]
    )
    assert (args.command, args.text, args.methods, args.grpc, str(args.html)) == (
        "explain",
        "a text",
        ["shapley_cls", "rollout"],
        True,
        "out.html",
    )
    assert build_parser().parse_args(["explain", "t"]).methods is None  # the model's defaults


def test_predict_takes_no_methods_and_token_excludes_key_file(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "t", "--method", "shapley_cls"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["explain", "t", "--token", "k", "--key-file", "key_file.json"])
    capsys.readouterr()


def test_options_collect_per_method(capsys) -> None:
    arguments = ["explain", "t", "--option", "kernel_shap.samples=50", "--option", "kernel_shap.x=2"]
    args = build_parser().parse_args([*arguments, "--option", "integrated_gradients.steps=8"])
    assert _options(args.options) == {"kernel_shap": {"samples": 50, "x": 2}, "integrated_gradients": {"steps": 8}}
    assert _options(build_parser().parse_args(["explain", "t"]).options) is None
    for bad in ("kernel_shap=5", "kernel_shap.samples", "kernel_shap.samples=-1"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["explain", "t", "--option", bad])
    assert "METHOD.NAME=N" in capsys.readouterr().err


def test_a_number_target_is_an_index_and_anything_else_a_label() -> None:
    assert (_target("1"), _target("positive"), _target(None)) == (1, "positive", None)


def test_render_json_and_text(response: dict) -> None:
    explanation = Explanation.from_dict(response)
    as_json = build_parser().parse_args(["explain", "t", "--json"])
    assert json.loads(render(explanation, as_json)) == response
    as_text = build_parser().parse_args(["explain", "t", "--color", "never", "--top", "1"])
    assert "top words: gorgeous +0.600" in render(explanation, as_text)


def test_an_unreachable_server_is_exit_status_1_with_the_error_on_stderr(capsys) -> None:
    status = main(["predict", "t", "--url", "http://127.0.0.1:9", "--token", "k", "--retries", "0"])
    assert status == 1
    assert capsys.readouterr().err.startswith("error: ServerUnavailableError: cannot reach http://127.0.0.1:9")


def test_explain_takes_an_image_file_instead_of_a_text(tmp_path, capsys) -> None:
    args = build_parser().parse_args(["explain", "--image", "shirt.png", "--model", "fashion", "--png", "o.png"])
    assert (args.text, str(args.image), args.model, str(args.png)) == (None, "shirt.png", "fashion", "o.png")
    for wrong in (["explain"], ["explain", "t", "--image", "x.png"], ["explain", "t", "--png", "o.png"]):
        with pytest.raises(SystemExit):
            main([*wrong, "--token", "k"])
    assert "exactly one of the two" in capsys.readouterr().err
    image = tmp_path / "shirt.png"
    image.write_bytes(b"\x89PNG not really")
    status = main(["predict", "--image", str(image), "--url", "http://127.0.0.1:9", "--token", "k", "--retries", "0"])
    assert status == 1 and "ServerUnavailableError" in capsys.readouterr().err
    assert main(["explain", "--image", str(tmp_path / "missing.png"), "--token", "k"]) == 1
    assert "cannot read the image" in capsys.readouterr().err


def test_render_an_image_explanation(image_response: dict) -> None:
    explanation = Explanation.from_dict(image_response)
    as_text = build_parser().parse_args(["explain", "--image", "x.png", "--color", "never", "--top", "1"])
    assert "top patches: (0, 1) +0.500" in render(explanation, as_text)
    as_json = build_parser().parse_args(["explain", "--image", "x.png", "--json"])
    assert json.loads(render(explanation, as_json)) == image_response
