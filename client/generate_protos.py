"""Regenerate the committed Python stubs in ``attnserve_protos/`` from ``protos/``.

Run from anywhere: ``python client/generate_protos.py``. The stubs are committed so that
``pip install ./client`` needs no build step and no grpcio-tools. The client distribution ships
``attnserve_protos`` beside ``attnserve_client``; TorchServe archives pack ``attnserve_protos`` alone.
``tests/client/test_protos.py`` runs ``generate`` into a temporary folder and fails when the committed
files differ (stale stubs).

``google/rpc/status.proto`` (imported by TorchServe's inference.proto) is not generated here: it comes
from googleapis-common-protos at run time, whose ``google.rpc.Status`` is field for field the one in
TorchServe's jar (only comments and a C++ option differ; ``tests/client/test_protos.py`` checks).
A private copy would register ``google/rpc/status.proto`` a second time in protobuf's default pool and
crash any process that also imports googleapis-common-protos.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import google.rpc
from grpc_tools import protoc

PROTOS = Path(__file__).resolve().parent.parent / "protos"
OUT = Path(__file__).resolve().parent / "attnserve_protos"
# Messages and descriptors only: the SDK binds the one unary Predictions call from inference_pb2's service
# descriptor (attnserve_client/_grpc.py), so grpcio-tools' *_pb2_grpc modules, whose server base classes
# only raise "not implemented" and which also expose the worker-killing StreamPredictions, are
# not generated.
PROTO_FILES = ["torchserve/inference.proto", "torchserve/management.proto", "attnserve/v1/explanation.proto"]
# protoc writes `from torchserve import inference_pb2`; the stubs live flat in one package instead.
LOCAL_IMPORT = re.compile(r"^from (?:torchserve|attnserve\.v1) import ", re.MULTILINE)


def _protoc(includes: list[Path], out: Path, files: list[str]) -> None:
    args = ["protoc", *(f"-I{path}" for path in includes), f"--python_out={out}", f"--pyi_out={out}"]
    if protoc.main([*args, *files]) != 0:
        raise RuntimeError(f"protoc failed on {files}")


def generate(out: Path) -> list[Path]:
    """Write the stubs, flattened into ``out``; returns the files written."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        status_dir = scratch_path / "include" / "google" / "rpc"
        status_dir.mkdir(parents=True)
        shutil.copy(Path(next(iter(google.rpc.__path__))) / "status.proto", status_dir)
        includes = [PROTOS, scratch_path / "include", Path(str(resources.files("grpc_tools") / "_proto"))]
        raw = scratch_path / "raw"
        raw.mkdir()
        _protoc(includes, raw, PROTO_FILES)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for source in sorted(raw.rglob("*.py*")):
            target = out / source.name
            target.write_text(LOCAL_IMPORT.sub("from . import ", source.read_text()))
            written.append(target)
        return written


if __name__ == "__main__":
    for path in generate(OUT):
        print(path)
