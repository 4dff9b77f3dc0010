"""Property-based fuzzing of the real handler, in-process: nothing a request contains can hurt another.

Why: TorchServe 0.12 fails every request of a batch when the handler raises, and kills the worker (failing
its batch again) for an answer above max_response_size, so one hostile request could take its batch-mates
down with it. test_isolation.py pins the hostile inputs we know of; here Hypothesis looks for the ones we
do not. Each generated request shares a batch of 2 to 4 with copies of a valid one, at a drawn position:

1. ``handle()`` never raises;
2. every slot gets 200, or a 4xx/5xx whose JSON body (or protobuf ``Error``, for a gRPC proto input) holds a
   non-empty message and, for bad input, the field at fault;
3. every copy of the valid request gets 200 and the label, probabilities and attributions it gets alone
   (within 1e-5);
4. every answer is under MAX_RESPONSE_BYTES, and an error is small: its message and field together stay
   under 1,000 characters, whatever the client sent.

Bodies reach the handler as TorchServe hands them over (``as_torchserve``). Derandomized, with no example
database: every run tries the same examples, sized for a busy 2-core CI machine.
"""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import zlib
from collections.abc import Iterator

import pytest
import torch
from attnserve_protos import explanation_pb2
from google.protobuf import json_format
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from attnserve.explain import DEFAULT_MAX_FORWARD_PASSES
from attnserve.methods import METHOD_NAMES, REGISTRY
from handlers.explain_handler import MAX_RESPONSE_BYTES
from handlers.proto_codec import GLOBAL_INPUT_KEY, INPUT_KEY
from tests.conftest import CONCEPTS, IMAGE_LABELS, LABELS, png_bytes
from tests.handlers.test_explain_handler import handled

Body = tuple[str, object, str]  # (input key, value as TorchServe hands it over, content type)
JSON = "application/json"
TOLERANCE = 1e-5
ERROR_CHARS = 1000  # an error's message and field together; a client's value is quoted 80 characters at most
TEXT_MATE = ("body", json.dumps({"text": "A gorgeous, moving film.", "methods": ["shapley_cls"]}).encode(), JSON)
IMAGE_MATE = ("body", png_bytes(seed=1), "image/png")
PROTO_ANSWERS = {INPUT_KEY: explanation_pb2.ExplainResponse, GLOBAL_INPUT_KEY: explanation_pb2.GlobalConceptsResponse}

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# --- what every batch must get -------------------------------------------------------------------------


def as_torchserve(key: str, raw: bytes, content_type: str) -> Body:
    """A request input as TorchServe 0.12 hands it to the handler (ts.protocol.otf_message_handler): JSON
    decoded, ``text/*`` decoded as UTF-8, anything else, or what fails to decode, as the raw bytes."""
    try:
        if content_type == JSON:
            return key, json.loads(raw.decode("utf-8")), content_type
        if content_type.startswith("text"):
            return key, raw.decode("utf-8"), content_type
    except (ValueError, RecursionError):
        pass
    return key, raw, content_type


def json_bytes(value: object) -> bytes:
    """JSON as a client sends it: NaN and Infinity included, lone surrogates as \\ud800 escapes."""
    return json.dumps(value).encode()


def check_answer(status: int, answer: dict, proto: bool) -> None:
    """200 without an error, or an error with a message (and, for bad input, its field) that stays small."""
    error = answer.get("error")
    if proto:  # TorchServe's gRPC path ignores per-request statuses: an error travels inside the message
        assert status == 200, status
    elif error is None:
        assert status == 200, (status, answer)
    else:
        assert 400 <= status < 600 and set(answer) == {"error"}, (status, answer)
    if error is None:
        return
    message, field = error.get("message", ""), error.get("field")
    assert message, f"an error without a message: {error}"
    if error.get("code") == "INVALID_INPUT" or status == 400:  # a JSON key may be "", a proto field not
        assert isinstance(field, str) and (field or not proto), f"bad input without its field: {error}"
    field = field or ""
    assert len(message) + len(field) < ERROR_CHARS, (
        f"the error quotes the request back at length: {len(field)}-character field {field[:60]!r}…, "
        f"{len(message)}-character message {message[:60]!r}…"
    )


def checked(handler_and_context, bodies: list[Body]) -> list[tuple[int, dict]]:
    """(status, decoded answer) of every slot, once ``handle()`` has returned (property 1) and each answer
    has passed ``check_answer`` and the size limit (properties 2 and 4)."""
    responses, context = handled(handler_and_context, bodies)
    results = []
    for i, ((key, _, _), response) in enumerate(zip(bodies, responses, strict=True)):
        raw = response.encode() if isinstance(response, str) else response
        assert len(raw) < MAX_RESPONSE_BYTES, f"slot {i}: a {len(raw)}-byte answer kills the worker"
        status, proto = context.get_response_status(i)[0], key in PROTO_ANSWERS
        content_type = context.get_response_content_type(i)
        assert content_type == ("application/octet-stream" if proto else JSON), (key, content_type)
        if proto:  # the response message of the input's kind, whatever the input held
            message = PROTO_ANSWERS[key].FromString(raw)
            answer = json_format.MessageToDict(message, preserving_proto_field_name=True)
        else:
            answer = json.loads(raw)
        check_answer(status, answer, proto)
        results.append((status, answer))
    return results


def assert_same_explanation(answer: dict, reference: dict) -> None:
    assert answer["label"] == reference["label"]
    assert answer["probabilities"] == pytest.approx(reference["probabilities"], abs=TOLERANCE)
    assert answer["attributions"].keys() == reference["attributions"].keys()
    for method, scores in reference["attributions"].items():
        assert answer["attributions"][method].keys() == scores.keys()
        for unit, values in scores.items():
            assert answer["attributions"][method][unit] == pytest.approx(values, abs=TOLERANCE), (method, unit)


def assert_isolated(
    handler_and_context, mate: tuple[str, bytes, str], reference: dict, hostile: Body, placement: tuple[int, int]
) -> None:
    """``hostile`` at ``placement`` = (batch size, its slot), every other slot a fresh copy of ``mate``."""
    size, position = placement
    bodies = [as_torchserve(*mate) for _ in range(size - 1)]
    bodies.insert(position, hostile)
    for i, (status, answer) in enumerate(checked(handler_and_context, bodies)):
        if i != position:
            assert status == 200, f"the valid batch-mate in slot {i} got {status}: {answer}"
            assert_same_explanation(answer, reference)


def reference_of(handler_and_context, mate: tuple[str, bytes, str]) -> dict:
    ((status, answer),) = checked(handler_and_context, [as_torchserve(*mate)])
    assert status == 200, answer
    return answer


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine their spin-waits cost up
    to 0.3 s a pass (2 ms with one thread); the session's setting comes back after this module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def text_reference(handler_and_context) -> dict:
    return reference_of(handler_and_context, TEXT_MATE)


@pytest.fixture(scope="module")
def image_reference(image_handler_and_context) -> dict:
    return reference_of(image_handler_and_context, IMAGE_MATE)


# --- strategies ----------------------------------------------------------------------------------------

placements = st.integers(2, 4).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, size - 1)))

SPECIAL = (
    "\u200b",  # zero-width space: not whitespace to str.strip, nothing to the tokenizer
    "\u200d",  # zero-width joiner
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\ufeff",  # byte order mark
    "\u0301",  # a combining accent with nothing to combine with
    "\ud800",  # lone surrogates: not Unicode text
    "\udfff",
    "\x00",
    "\x1b",
    "\x85",
    "\u2028",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # an emoji family: three code points joined
    "\U0001f1fa\U0001f1f3",  # a flag: two regional indicators
    "\U0010ffff",
    "[CLS]",
    "[MASK]",
    "##ing",
    "film",
    "not",
    " ",
)
pieces = st.one_of(
    st.characters(),
    st.characters(categories=["Cc", "Cf", "Cs", "Mn", "Zs", "Zl", "Zp"]),
    st.sampled_from(SPECIAL),
)
short_texts = st.lists(pieces, max_size=20).map("".join)
long_words = st.builds(lambda piece, n: piece * n, pieces, st.integers(100, 20_000))
whitespace = st.lists(st.sampled_from(" \t\n\r\x0b\x0c\x1c\xa0\u3000\u2028\u2029"), max_size=40).map("".join)
good_texts = st.sampled_from(["A fine film.", "Dull and far too long.", "x", "Not bad at all, really."])
texts = st.one_of(
    short_texts,
    long_words,
    whitespace,
    st.lists(st.one_of(short_texts, long_words), min_size=2, max_size=4).map(" ".join),
)
huge_ints = st.builds(lambda sign, digits: sign * 10**digits, st.sampled_from([1, -1]), st.integers(19, 4200))
leaves = st.one_of(st.none(), st.booleans(), st.integers(), huge_ints, st.floats(), short_texts, long_words)
KNOWN_KEYS = ("text", "methods", "target", "options", "concepts", "kind", "image", "texts")
keys = st.one_of(st.sampled_from(KNOWN_KEYS), short_texts, long_words)
json_values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12
)

method_names = st.one_of(st.sampled_from(METHOD_NAMES), short_texts, long_words)
FREE_METHODS = [name for name, method in REGISTRY.items() if not method.options]  # no extra forward passes
OPTIONED = [name for name, method in REGISTRY.items() if method.options]  # the perturbation baselines
OPTION_NAMES = sorted({option.name for method in REGISTRY.values() for option in method.options})
BOUNDS = {DEFAULT_MAX_FORWARD_PASSES + d for d in (-2, -1, 0, 1)} | {
    option.maximum + d for method in REGISTRY.values() for option in method.options for d in (0, 1)
}
option_values = st.one_of(
    st.sampled_from([0, 1, 2, -1, *sorted(BOUNDS)]),
    st.integers(1, 64),
    st.integers(),
    huge_ints,
    st.floats(),
    st.booleans(),
    st.none(),
    short_texts,
    st.lists(st.integers(), max_size=2),
)
option_names = st.one_of(st.sampled_from(OPTION_NAMES), short_texts, long_words)
option_maps = st.dictionaries(option_names, option_values, max_size=2)
options = st.dictionaries(
    st.one_of(st.sampled_from(OPTIONED), method_names), st.one_of(option_maps, json_values), max_size=3
)
targets = st.one_of(
    st.sampled_from(LABELS), st.integers(-2, 3), st.sampled_from([True, 1.0, "Positive", "1"]), json_values
)
concept_lists = st.one_of(st.lists(st.one_of(st.sampled_from(CONCEPTS), short_texts), max_size=4), json_values)
method_lists = st.one_of(st.lists(method_names, max_size=4), json_values)
base64_garbage = st.one_of(
    st.binary(max_size=64).map(lambda raw: base64.b64encode(raw).decode()),
    st.binary(min_size=1, max_size=64).map(lambda raw: base64.urlsafe_b64encode(raw).decode()[:-1]),
    short_texts,
)


def merged(extra: dict, known: dict) -> dict:
    return {**extra, **known}


request_objects = st.builds(
    merged,
    st.dictionaries(keys, json_values, max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "text": st.one_of(good_texts, texts, json_values),
            "texts": st.one_of(st.lists(st.one_of(good_texts, texts), max_size=4), json_values),
            "methods": method_lists,
            "target": targets,
            "options": st.one_of(options, json_values),
            "concepts": concept_lists,
            "kind": st.one_of(st.sampled_from(["explain", "global_concepts", "EXPLAIN", ""]), json_values),
            "image": st.one_of(base64_garbage, json_values),
        },
    ),
)


def mutated(raw: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """``raw`` cut short, or with one byte changed, or with bytes inserted, at a drawn position."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = draw(raw)
        at = draw(st.integers(0, len(data)))
        change = draw(st.sampled_from(["cut", "flip", "insert"]))
        if change == "cut":
            return data[:at]
        if change == "flip":
            return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]

    return mutate()


raw_json = st.one_of(
    st.integers(1, 100_000).map(lambda n: b'{"text": "a", "methods": ' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 100_000).map(lambda n: b'{"a": ' * n + b"1" + b"}" * n),
    st.integers(4290, 6000).map(lambda n: b'{"text": "a", "target": ' + b"9" * n + b"}"),
    st.sampled_from(
        [
            b'{"text": "a", "target": NaN}',
            b'{"text": "a", "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 1e999}}}',
            b'{"text": "\\ud800 \\udfff"}',
            b'{"text": "a", "text": 5}',
            b'{"text": "a"} {"text": "b"}',
            b'\xef\xbb\xbf{"text": "a"}',
            b'{"text": "a\x00b"}',
            b"{}",
            b"null",
        ]
    ),
    mutated(request_objects.map(json_bytes)),
)
CONTENT_TYPES = st.sampled_from([JSON, "text/plain", "text/plain; charset=utf-8", "image/png", ""])
SMALL_BINARIES = st.binary(max_size=64)
proto_texts = texts.map(lambda text: text.encode("utf-8", "replace").decode())  # a proto string is Unicode text
proto_strings = st.one_of(short_texts, long_words).map(lambda text: text.encode("utf-8", "replace").decode())


@st.composite
def explain_messages(draw: st.DrawFn, images: st.SearchStrategy[bytes] = SMALL_BINARIES) -> bytes:
    """A serialized ``ExplainRequest``, every field drawn (any of them may be what the model refuses)."""
    any_method = st.one_of(st.sampled_from(METHOD_NAMES), proto_strings)
    any_concept = st.one_of(st.sampled_from(CONCEPTS), proto_strings)
    request = explanation_pb2.ExplainRequest(
        text=draw(st.one_of(good_texts, proto_texts, st.just(""))),
        methods=draw(st.one_of(st.lists(st.sampled_from(FREE_METHODS), max_size=3), st.lists(any_method, max_size=3))),
        methods_given=draw(st.booleans()),
        image=draw(st.one_of(st.just(b""), images)),
        concepts=draw(st.one_of(st.just([]), st.lists(any_concept, max_size=3))),
    )
    target = draw(st.sampled_from(["", "target_label", "target_index"]))
    if target == "target_label":
        request.target_label = draw(st.one_of(st.sampled_from(LABELS), proto_strings))
    elif target == "target_index":
        request.target_index = draw(st.integers(-(2**31), 2**31 - 1))
    values = st.dictionaries(
        st.one_of(st.sampled_from(OPTION_NAMES), proto_strings),
        st.one_of(st.sampled_from(sorted(BOUNDS)), st.integers(-(2**63), 2**63 - 1)),
        max_size=2,
    )
    chosen = draw(st.dictionaries(st.one_of(st.sampled_from(OPTIONED), proto_strings), values, max_size=2))
    for method, numbers in chosen.items():
        request.options[method].values.update(numbers)
    return request.SerializeToString()


global_messages = st.builds(
    lambda texts_, target, concepts: explanation_pb2.GlobalConceptsRequest(
        texts=texts_, target=target, concepts=concepts
    ).SerializeToString(),
    st.one_of(st.lists(good_texts, min_size=1, max_size=5), st.lists(st.one_of(good_texts, proto_texts), max_size=5)),
    st.one_of(st.sampled_from(LABELS), proto_strings),
    st.one_of(st.just([]), st.lists(st.one_of(st.sampled_from(CONCEPTS), proto_strings), max_size=3)),
)

# (mode, format) pairs Pillow writes: PNG's bilevel, grayscale (+alpha), 16-bit, palette and colour modes; JPEG's
IMAGE_MODES = [(mode, "PNG") for mode in ("1", "L", "LA", "I;16", "P", "RGB", "RGBA")] + [
    (mode, "JPEG") for mode in ("L", "RGB", "CMYK")
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@st.composite
def image_files(draw: st.DrawFn) -> bytes:
    """A small valid PNG or JPEG of a drawn size, mode and content (PNG palettes and grays with a
    transparent colour too)."""
    mode, format_ = draw(st.sampled_from(IMAGE_MODES))
    size = (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
    length = len(Image.new(mode, size).tobytes())
    image = Image.frombytes(mode, size, random.Random(draw(st.integers(0, 2**32))).randbytes(length))
    extra = {"transparency": 0} if mode in ("L", "P") and draw(st.booleans()) else {}
    buffer = io.BytesIO()
    image.save(buffer, format=format_, **extra)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def claimed_png(width: int, height: int, colour: int, payload: bytes) -> bytes:
    """A PNG whose well-formed header claims any size (a decompression bomb, or zero pixels) over any data."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", payload) + png_chunk(b"IEND", b"")


image_bytes = st.one_of(
    image_files(),
    mutated(image_files()),
    st.builds(
        claimed_png,
        st.integers(0, 2**31 - 1),
        st.integers(0, 2**31 - 1),
        st.sampled_from([0, 1, 2, 3, 4, 6, 7]),
        st.one_of(st.binary(max_size=64), st.binary(max_size=64).map(zlib.compress)),
    ),
    st.binary(max_size=256),
    st.binary(max_size=64).map(lambda tail: PNG_SIGNATURE + tail),
    st.binary(max_size=64).map(lambda tail: b"\xff\xd8\xff" + tail),  # a JPEG start of image, then anything
)


@st.composite
def image_requests(draw: st.DrawFn) -> Body:
    """Image bytes (or garbage) on every transport an image model reads: raw with any content type, gRPC
    ``data``, base64 in JSON beside drawn settings, and ``ExplainRequest.image``."""
    raw = draw(image_bytes)
    transport = draw(st.sampled_from(["raw", "data", "json", "proto"]))
    if transport == "raw":
        content_type = draw(st.sampled_from(["image/png", "image/jpeg", "application/octet-stream", JSON, ""]))
        return as_torchserve("body", raw, content_type)
    if transport == "data":
        return as_torchserve("data", raw, "")
    if transport == "proto":
        return INPUT_KEY, draw(explain_messages(images=st.just(raw))), ""
    image = draw(st.one_of(st.just(base64.b64encode(raw).decode()), base64_garbage, json_values))
    fields = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "methods": method_lists,
                "target": st.one_of(st.sampled_from(IMAGE_LABELS), targets),
                "concepts": concept_lists,
                "options": options,
                "text": texts,
            },
        )
    )
    return as_torchserve("body", json_bytes({"image": image, **fields}), JSON)


def text_request(transport: str, text: str, methods: list[str]) -> Body:
    """``text`` as a client sends it: in JSON, as text/plain, as gRPC ``data``, or in an ``ExplainRequest``."""
    if transport == "json":
        return as_torchserve("body", json_bytes({"text": text, "methods": methods}), JSON)
    if transport == "proto":
        message = explanation_pb2.ExplainRequest(text=text.encode("utf-8", "replace").decode(), methods=methods)
        return INPUT_KEY, message.SerializeToString(), ""
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate as the bytes a careless client sends
    return as_torchserve("body", raw, "text/plain") if transport == "plain" else as_torchserve("data", raw, "")


def json_input(key: str, body: object) -> Body:
    """``body`` as JSON under input ``key``: REST's "body" says so in its content type, gRPC's "data" does not."""
    return as_torchserve(key, json_bytes(body), JSON if key == "body" else "")


# --- the properties, text model ------------------------------------------------------------------------


@FUZZ
@given(body=st.one_of(request_objects, json_values), key=st.sampled_from(["body", "data"]), placement=placements)
def test_any_json_value_as_a_body(
    handler_and_context, text_reference, body: object, key: str, placement: tuple[int, int]
) -> None:
    assert_isolated(handler_and_context, TEXT_MATE, text_reference, json_input(key, body), placement)


@FUZZ
@given(
    raw=st.one_of(st.binary(max_size=256), raw_json),
    key=st.one_of(st.sampled_from(["body", "data", "file"]), proto_strings),  # a form field's or gRPC input's name
    content_type=CONTENT_TYPES,
    placement=placements,
)
@example(raw=b"x", key="x" * 1000, content_type="", placement=(2, 0))  # its error lists the input names, each whole
def test_any_bytes_as_a_body(
    handler_and_context, text_reference, raw: bytes, key: str, content_type: str, placement: tuple[int, int]
) -> None:
    hostile = as_torchserve(key, raw, content_type)
    assert_isolated(handler_and_context, TEXT_MATE, text_reference, hostile, placement)


@FUZZ
@given(
    text=texts,
    transport=st.sampled_from(["json", "plain", "data", "proto"]),
    methods=st.lists(st.sampled_from(FREE_METHODS), max_size=3),
    placement=placements,
)
def test_any_text(
    handler_and_context, text_reference, text: str, transport: str, methods: list[str], placement: tuple[int, int]
) -> None:
    hostile = text_request(transport, text, methods)
    assert_isolated(handler_and_context, TEXT_MATE, text_reference, hostile, placement)


@settings(FUZZ, max_examples=60)
@given(
    body=st.fixed_dictionaries(
        {
            # few tokens: a baseline's cost grows with them, and its budget is what is fuzzed here
            "text": st.sampled_from(["x", "Fine film.", "Not bad at all, really."]),
            "methods": st.lists(st.sampled_from([*OPTIONED, "gae"]), max_size=3),
            "options": options,
        }
    ),
    placement=placements,
)
@example(body={"text": "x", "options": {"x" * 1000: {}}}, placement=(2, 0))  # its error's field: "options." + the key
def test_any_options(handler_and_context, text_reference, body: dict, placement: tuple[int, int]) -> None:
    hostile = as_torchserve("body", json_bytes(body), JSON)
    assert_isolated(handler_and_context, TEXT_MATE, text_reference, hostile, placement)


@FUZZ
@given(
    body=st.fixed_dictionaries(
        {"text": st.sampled_from(["Fine film.", "so " * 40])},
        optional={"methods": method_lists, "target": targets, "concepts": concept_lists},
    ),
    placement=placements,
)
def test_any_methods_target_and_concepts(
    handler_and_context, text_reference, body: dict, placement: tuple[int, int]
) -> None:
    hostile = as_torchserve("body", json_bytes(body), JSON)
    assert_isolated(handler_and_context, TEXT_MATE, text_reference, hostile, placement)


@FUZZ
@given(
    body=st.builds(
        merged,
        st.dictionaries(keys, json_values, max_size=1),
        st.fixed_dictionaries(
            {
                "kind": st.just("global_concepts"),
                "texts": st.one_of(
                    st.lists(good_texts, min_size=1, max_size=6),
                    st.lists(st.one_of(good_texts, texts), min_size=1, max_size=6),
                    st.integers(250, 260).map(lambda n: ["A fine film."] * n),  # around the 256-text cap
                    json_values,
                ),
                "target": st.one_of(st.sampled_from(LABELS), json_values),
            },
            optional={"concepts": concept_lists},
        ),
    ),
    key=st.sampled_from(["body", "data"]),
    placement=placements,
)
@example(  # its error's field is the unknown key, and its message lists every unknown key, each whole
    body={"kind": "global_concepts", "texts": ["x"], "target": "positive", "x" * 1000: 0}, key="body", placement=(2, 0)
)
def test_any_global_concepts_request(
    handler_and_context, text_reference, body: dict, key: str, placement: tuple[int, int]
) -> None:
    assert_isolated(handler_and_context, TEXT_MATE, text_reference, json_input(key, body), placement)


@FUZZ
@given(
    raw=st.one_of(st.binary(max_size=256), mutated(explain_messages()), mutated(global_messages)),
    key=st.sampled_from([INPUT_KEY, GLOBAL_INPUT_KEY]),
    content_type=st.sampled_from(["", JSON, "text/plain"]),
    placement=placements,
)
def test_any_bytes_as_a_grpc_input(
    handler_and_context, text_reference, raw: bytes, key: str, content_type: str, placement: tuple[int, int]
) -> None:
    hostile = as_torchserve(key, raw, content_type)
    assert_isolated(handler_and_context, TEXT_MATE, text_reference, hostile, placement)


@FUZZ
@given(
    hostile=st.one_of(
        explain_messages().map(lambda raw: (INPUT_KEY, raw, "")),
        global_messages.map(lambda raw: (GLOBAL_INPUT_KEY, raw, "")),
    ),
    placement=placements,
)
def test_any_proto_message(handler_and_context, text_reference, hostile: Body, placement: tuple[int, int]) -> None:
    assert_isolated(handler_and_context, TEXT_MATE, text_reference, hostile, placement)


# --- the properties, image model -----------------------------------------------------------------------


@FUZZ
@given(hostile=image_requests(), placement=placements)
def test_any_image_request(
    image_handler_and_context, image_reference, hostile: Body, placement: tuple[int, int]
) -> None:
    assert_isolated(image_handler_and_context, IMAGE_MATE, image_reference, hostile, placement)
