"""``attnserve``: explain or classify a text or an image from the shell.

    attnserve explain "A gorgeous, moving film." --method shapley_mutual [--grpc] [--json] [--html out.html]
    attnserve explain --image shirt.png --model fashion [--png overlay.png]
    attnserve predict "A gorgeous, moving film."
    attnserve tcav --target positive --texts-file texts.txt [--concept negation ...] [--png out.png]

Server addresses default to ``ATTNSERVE_URL`` / ``ATTNSERVE_GRPC_TARGET`` (else TorchServe's local
defaults); the token to ``--token``, ``--key-file``, ``ATTNSERVE_TOKEN`` or ``ATTNSERVE_KEY_FILE``.
Exit status: 0 on success, 1 when the service reports an error, 2 on bad command-line arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from attnserve_client._client import DEFAULT_GRPC_TARGET, DEFAULT_URL, Client
from attnserve_client._core import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S
from attnserve_client.errors import AttnserveClientError
from attnserve_client.explanation import Explanation
from attnserve_client.views.terminal import use_color


def _connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--grpc", action="store_true", help="use gRPC instead of REST")
    common.add_argument("--url", default=os.environ.get("ATTNSERVE_URL", DEFAULT_URL), help="REST inference URL")
    common.add_argument(
        "--grpc-target",
        default=os.environ.get("ATTNSERVE_GRPC_TARGET", DEFAULT_GRPC_TARGET),
        help="gRPC inference host:port",
    )
    common.add_argument("--model", default="sentiment", help="model name (default: sentiment)")
    auth = common.add_mutually_exclusive_group()
    auth.add_argument("--token", help="inference token")
    auth.add_argument("--key-file", type=Path, help="TorchServe key_file.json to read the inference key from")
    common.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help=f"seconds per attempt (default: {DEFAULT_TIMEOUT_S:g})"
    )
    common.add_argument(
        "--retries", type=int, default=DEFAULT_RETRIES, help="retries while the server is unavailable or restarting"
    )
    return common


def _text_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, parents=[_connection_options()])
    common.add_argument("text", nargs="?", help="the text to classify (or --image)")
    common.add_argument("--image", type=Path, help="a PNG/JPEG file to classify, for an image model")
    common.add_argument("--target", help="class to explain (a label, or an index); default: the predicted one")
    common.add_argument("--json", action="store_true", help="print the JSON response instead of text")
    common.add_argument("--top", type=int, default=5, help="top words (or patches) to list per method (default: 5)")
    common.add_argument("--color", choices=["auto", "always", "never"], default="auto", help="terminal colors")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnserve", description="Predictions and explanations from attnserve.")
    commands = parser.add_subparsers(dest="command", required=True)
    common = _text_options()
    explain = commands.add_parser("explain", parents=[common], help="label, probabilities and attributions")
    explain.add_argument(
        "--method", action="append", dest="methods", help="explanation method (repeatable); default: the model's"
    )
    explain.add_argument(
        "--option",
        action="append",
        dest="options",
        type=_option,
        metavar="METHOD.NAME=N",
        help="cost option of a sampling baseline, e.g. kernel_shap.samples=200 (repeatable)",
    )
    explain.add_argument("--html", type=Path, help="also write an HTML view to this file")
    explain.add_argument("--png", type=Path, help="with --image: also write the heatmap overlay (needs Pillow)")
    commands.add_parser("predict", parents=[common], help="label and probabilities only")
    tcav = commands.add_parser(
        "tcav", parents=[_connection_options()], help="global TCAV scores of concepts over a set of texts"
    )
    tcav.add_argument("--target", required=True, help="the class the texts belong to (a label)")
    tcav.add_argument("--concept", action="append", dest="concepts", help="concept (repeatable); default: all")
    tcav.add_argument("--texts-file", type=Path, required=True, help="UTF-8 file, one input text per line")
    tcav.add_argument("--png", type=Path, help="also write a bar plot (needs matplotlib)")
    return parser


def _option(value: str) -> tuple[str, str, int]:
    """``METHOD.NAME=N`` -> (method, name, N)."""
    key, _, number = value.partition("=")
    method, _, name = key.partition(".")
    if not (method and name and number.isdigit()):
        raise argparse.ArgumentTypeError(f"expected METHOD.NAME=N (e.g. kernel_shap.samples=200), got {value!r}")
    return method, name, int(number)


def _options(chosen: list[tuple[str, str, int]] | None) -> dict[str, dict[str, int]] | None:
    if not chosen:
        return None
    options: dict[str, dict[str, int]] = {}
    for method, name, number in chosen:
        options.setdefault(method, {})[name] = number
    return options


def _target(value: str | None) -> int | str | None:
    """A number is a class index; anything else a label."""
    return int(value) if value is not None and value.isdigit() else value


def render(explanation: Explanation, args: argparse.Namespace) -> str:
    if args.json:
        return json.dumps(explanation.to_dict(), indent=2)
    color = {"always": True, "never": False, "auto": use_color(sys.stdout)}[args.color]
    return explanation.to_terminal(color=color, k=args.top)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "tcav" and (args.text is None) == (args.image is None):
        parser.error(f"{args.command}: give a text or --image FILE, exactly one of the two")
    if getattr(args, "png", None) and args.command == "explain" and args.image is None:
        parser.error("explain: --png draws over an image; give --image FILE")
    client = Client(
        args.url,
        grpc_target=args.grpc_target,
        transport="grpc" if args.grpc else "rest",
        model=args.model,
        token=args.token,
        key_file=args.key_file,
        timeout=args.timeout,
        retries=args.retries,
    )
    if args.command == "tcav":
        return _tcav(client, args)
    methods = [] if args.command == "predict" else args.methods
    options = _options(getattr(args, "options", None))
    try:
        image = args.image.read_bytes() if args.image is not None else None
    except OSError as error:
        print(f"error: cannot read the image: {error}", file=sys.stderr)
        return 1
    try:
        with client:
            explanation = client.explain(
                args.text, methods=methods, target=_target(args.target), options=options, image=image
            )
    except AttnserveClientError as error:
        where = f" (field: {error.field})" if error.field else ""
        print(f"error: {type(error).__name__}: {error.message}{where}", file=sys.stderr)
        return 1
    print(render(explanation, args))
    if getattr(args, "html", None):
        args.html.write_text(explanation.to_html(), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    if getattr(args, "png", None):
        try:
            args.png.write_bytes(explanation.to_png())
        except (ImportError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


def _tcav(client: Client, args: argparse.Namespace) -> int:
    texts = [line.strip() for line in args.texts_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        with client:
            scores = client.tcav_scores(texts, args.target, args.concepts)
    except AttnserveClientError as error:
        where = f" (field: {error.field})" if error.field else ""
        print(f"error: {type(error).__name__}: {error.message}{where}", file=sys.stderr)
        return 1
    print(scores.table())
    if args.png:
        try:
            args.png.write_bytes(scores.to_png())
        except ImportError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"wrote {args.png}", file=sys.stderr)
    return 0
