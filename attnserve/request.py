"""Validate one request body into the options the engine runs; every problem names its field.

Accepted bodies (transport-neutral: the handler passes what the server decoded):
- a JSON object ``{"text": str, "methods": [str, ...], "target": int | label, "options": {...},
  "concepts": [str, ...]}``; ``methods`` absent or null means the model's default set, ``[]`` means
  prediction only; ``options`` tunes the cost of the baselines the request runs, e.g.
  ``{"kernel_shap": {"samples": 200}}`` (each method's record lists its options, with their defaults
  and caps; the explainer fills in defaults and enforces the budget); ``concepts`` picks the concepts a
  concept method (``tcav``) scores (default: every concept of the model; only with such a method, and
  only on a model whose archive carries CAVs);
- plain text (``text/plain``): the text itself, with the default methods;
- raw bytes: UTF-8, read as JSON when the content type says so or it starts with ``{``, else as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from attnserve.errors import InvalidInput
from attnserve.methods import METHOD_NAMES, OPTION_DEFAULTS, REGISTRY
from attnserve.methods.registry import CONCEPTS

SETTINGS = ("methods", "target", "options", "concepts")  # what every modality's request may set
SHOWN = 80  # characters of a client's value an error message quotes back
FIELDS = ("text", *SETTINGS)


@dataclass(frozen=True)
class ExplainRequest:
    text: str
    methods: tuple[str, ...]
    target: int | None  # class index; None = the predicted class
    # method -> option -> value: as sent, then completed by the explainer for each baseline the request runs
    options: dict[str, dict[str, int]] = field(default_factory=dict)
    concepts: tuple[str, ...] = ()  # what tcav scores; empty when the request runs no concept method


def parse_request(
    body: object,
    content_type: str | None,
    labels: Sequence[str],
    default_methods: Sequence[str],
    concepts: Sequence[str] = (),
    refused: Mapping[str, str] | None = None,
) -> ExplainRequest:
    """``concepts``: the model's concept names (empty when its archive has no CAVs); ``refused``: the
    methods this model cannot run, each with the reason a request naming it is told."""
    if isinstance(body, (bytes, bytearray)):
        body = _decode_bytes(bytes(body), content_type)
    if isinstance(body, str):
        body = {"text": body}
    if not isinstance(body, Mapping):
        raise InvalidInput(f"body must be a JSON object or plain text, got JSON {type(body).__name__}", "body")
    check_fields(body, FIELDS, "text")
    text = checked_text(body["text"])
    return ExplainRequest(text=text, **parse_settings(body, labels, default_methods, concepts, refused))


def shown(value: object) -> str:
    """A client's value as an error message quotes it: its repr, cut to ``SHOWN`` characters, and never
    an exception (the repr of an integer of more than 4,300 digits raises one)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def field_name(key: object) -> str:
    """A client's key as an error's ``field`` names it (``options.<key>``): cut to ``SHOWN`` characters
    like every other echo, since a key can be a megabyte long."""
    text = str(key)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def check_fields(body: Mapping, fields: Sequence[str], required: str) -> None:
    unknown = [key for key in body if key not in fields]
    if unknown:
        field = field_name(unknown[0])
        raise InvalidInput(f"unknown field {shown(unknown[0])}; accepted fields: {', '.join(fields)}", field)
    if required not in body:
        raise InvalidInput(f"missing required field {required!r}", required)


def parse_settings(
    body: Mapping,
    labels: Sequence[str],
    default_methods: Sequence[str],
    concepts: Sequence[str],
    refused: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The fields of ``SETTINGS``, validated, as keyword arguments of a request; a method in ``refused``
    is a 400 on it, with its reason."""
    methods = body.get("methods")
    chosen = tuple(default_methods) if methods is None else _methods(methods)
    for i, name in enumerate(chosen):
        if refused and name in refused:
            raise InvalidInput(refused[name], f"methods[{i}]")
    return {
        "methods": chosen,
        "target": _target(body.get("target"), labels),
        "options": parse_options(body.get("options"), "options", chosen),
        "concepts": _concepts(body.get("concepts"), chosen, concepts),
    }


def _decode_bytes(raw: bytes, content_type: str | None) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"body is not valid UTF-8 (byte {error.start})", "body") from None
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/json" or (not media.startswith("text/") and text.lstrip().startswith("{")):
        return parse_json(text)
    return text


def parse_json(text: str | bytes) -> object:
    """A JSON body; malformed, too deeply nested or with numbers too long to convert, it is a 400."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidInput("body is nested too deeply to read", "body") from None
    except ValueError as error:  # json.JSONDecodeError, UnicodeDecodeError, an integer beyond 4,300 digits
        raise InvalidInput(f"body is not valid JSON: {str(error)[:200]}", "body") from None


def checked_text(value: object, field: str = "text") -> str:
    """A client's text: a non-blank string of Unicode text (no unpaired surrogates, which the tokenizer
    cannot read); else a 400 on ``field``."""
    if not isinstance(value, str):
        raise InvalidInput(f"'{field}' must be a string, got {type(value).__name__}", field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"'{field}' holds unpaired surrogates, which are not Unicode text", field) from None
    if not value.strip():
        raise InvalidInput(f"'{field}' is empty", field)
    return value


def _methods(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInput(f"'methods' must be a list of method names, got {type(value).__name__}", "methods")
    for i, name in enumerate(value):
        _method(name, f"methods[{i}]")
    return tuple(dict.fromkeys(value))


def _method(name: object, field: str) -> None:
    if not isinstance(name, str) or name not in METHOD_NAMES:
        raise InvalidInput(f"unknown method {shown(name)}; available: {', '.join(METHOD_NAMES)}", field)


def _concepts(value: object, methods: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    """The concepts a concept method scores: all of the model's by default (a model without CAVs has
    refused the method already); a name the model lacks is a 400 on it."""
    if not any(REGISTRY[name].output == CONCEPTS for name in methods):
        if value is not None:
            raise InvalidInput("concepts given, but the request runs no concept method (tcav)", "concepts")
        return ()
    if value is None:
        return tuple(available)
    if not isinstance(value, list) or not value:
        raise InvalidInput("'concepts' must be a non-empty list of concept names", "concepts")
    for i, name in enumerate(value):
        if not isinstance(name, str) or name not in available:
            raise InvalidInput(f"unknown concept {shown(name)}; available: {', '.join(available)}", f"concepts[{i}]")
    return tuple(dict.fromkeys(value))


def parse_options(value: object, field: str, methods: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{method: {option: positive int}}`` for methods among ``methods`` that take options."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"'{field}' must be an object of method name -> options", field)
    parsed = {}
    for method, chosen in value.items():
        where = f"{field}.{field_name(method)}"
        _method(method, where)
        if not REGISTRY[method].options:
            raise InvalidInput(f"{method} takes no options; these do: {', '.join(OPTION_DEFAULTS)}", where)
        if method not in methods:
            raise InvalidInput(f"options given for {method}, which this request does not run", where)
        if not isinstance(chosen, Mapping):
            raise InvalidInput(f"'{where}' must be an object of option -> value", where)
        parsed[method] = {
            name: _option(method, name, number, f"{where}.{field_name(name)}") for name, number in chosen.items()
        }
    return parsed


def _option(method: str, name: object, value: object, where: str) -> int:
    option = REGISTRY[method].option(name) if isinstance(name, str) else None
    if option is None:
        raise InvalidInput(
            f"unknown option {shown(name)} for {method}; accepted: {', '.join(OPTION_DEFAULTS[method])}", where
        )
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"'{where}' must be a positive integer, got {shown(value)}", where)
    if value > option.maximum:
        raise InvalidInput(f"'{where}' is {value}; at most {option.maximum}", where)
    return value


def _target(value: object, labels: Sequence[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value in labels:
        return labels.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(labels):
        return value
    raise InvalidInput(
        f"'target' must be a label ({', '.join(labels)}) or a class index 0..{len(labels) - 1}, got {shown(value)}",
        "target",
    )
