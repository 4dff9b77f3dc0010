"""The protos: committed stubs are fresh, TorchServe's copies are TorchServe's, and the generated
package (``attnserve_protos``) loads without the SDK and its transports (the TorchServe worker imports it)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

import generate_protos
import google.rpc
import pytest
from attnserve_client._core import PREDICTIONS_PATH
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    fresh = {path.name: path.read_text() for path in generate_protos.generate(tmp_path)}
    committed = {path.name: path.read_text() for path in generate_protos.OUT.glob("*_pb2*")}
    assert sorted(committed) == sorted(fresh), "stub files differ; run python client/generate_protos.py"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"stale stubs {stale}; run python client/generate_protos.py and commit the result"


def test_torchserve_protos_are_the_ones_in_torchserves_jar() -> None:
    ts = pytest.importorskip("ts", reason="torchserve is not installed")
    jar = Path(ts.__file__).parent / "frontend" / "model-server.jar"
    with zipfile.ZipFile(jar) as archive:
        for name in ("inference.proto", "management.proto"):
            assert (ROOT / "protos" / "torchserve" / name).read_bytes() == archive.read(f"proto/{name}"), name
        jar_status = archive.read("google/rpc/status.proto")
    # inference.proto imports google/rpc/status.proto; googleapis-common-protos provides it at run time.
    assert _fields(jar_status) == _fields((Path(next(iter(google.rpc.__path__))) / "status.proto").read_bytes())


def _fields(status_proto: bytes) -> list[tuple]:
    """google.rpc.Status as the wire sees it: field names, numbers, labels and types."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch, "google", "rpc", "status.proto")
        source.parent.mkdir(parents=True)
        source.write_bytes(status_proto)
        out = Path(scratch, "set.pb")
        include = resources.files("grpc_tools") / "_proto"
        assert protoc.main(["protoc", f"-I{scratch}", f"-I{include}", f"--descriptor_set_out={out}", str(source)]) == 0
        (file,) = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return [
        (message.name, field.name, field.number, field.label, field.type, field.type_name)
        for message in file.message_type
        for field in message.field
    ]


def test_the_sdk_binds_only_the_unary_predictions_rpc() -> None:
    assert PREDICTIONS_PATH == "/org.pytorch.serve.grpc.inference.InferenceAPIsService/Predictions"
    sources = {path.name: path.read_text() for path in (ROOT / "client" / "attnserve_client").glob("*.py")}
    streaming = ("inference_pb2_grpc", ".unary_stream(", ".stream_unary(", ".stream_stream(")
    assert not [name for name, text in sources.items() if any(marker in text for marker in streaming)]


def test_the_proto_package_loads_without_the_sdk_httpx_or_grpc() -> None:
    code = (
        "import sys, attnserve_protos.explanation_pb2, attnserve_protos.inference_pb2; "
        "print(sorted({'httpx', 'grpc', 'attnserve_client'} & set(sys.modules)))"
    )
    env_path = str(ROOT / "client")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": env_path}
    )
    assert result.stdout.strip() == "[]"


def test_the_client_distribution_ships_both_packages() -> None:
    """``pip install ./client`` installs the SDK and the generated messages it imports (and the stubs'
    type hints); tests/client/test_install.py installs it for real."""
    import tomllib

    project = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(project["packages"]["find"]["include"]) == {"attnserve_client*", "attnserve_protos*"}
    assert project["package-data"]["attnserve_protos"] == ["*.pyi"]
    assert generate_protos.OUT == ROOT / "client" / "attnserve_protos"
