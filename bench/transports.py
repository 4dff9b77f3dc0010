"""REST against gRPC through the SDK: the same requests, interleaved, against one server in one run.

    .venv/bin/python -m bench.transports [--requests 40] [--methods shapley_mutual ...]

Starts its own TorchServe on free ports (beside any `make run` server) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from attnserve_client import Client

from deploy.launch import Ports, TorchServe
from model_store.recipes import sentiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--methods", nargs="*", default=["shapley_mutual", "grad_shapley_mutual"])
    args = parser.parse_args()
    _, held_out = sentiment.split()
    texts = [text for text, _ in held_out][: args.requests]
    server = TorchServe(Path(tempfile.mkdtemp(prefix="attnserve-bench-")), ["sentiment=sentiment.mar"], Ports.free())
    server.start()
    try:
        clients = {
            "rest": Client(server.inference_url, key_file=server.key_file),
            "grpc": Client(grpc_target=server.grpc_target, transport="grpc", key_file=server.key_file),
        }
        seconds: dict[str, list[float]] = {name: [] for name in clients}
        for client in clients.values():  # warm-up: connections, worker caches
            client.explain(texts[0], methods=args.methods)
        for text in texts:  # interleaved, so drift on the machine hits both alike
            for name, client in clients.items():
                start = time.perf_counter()
                client.explain(text, methods=args.methods)
                seconds[name].append(time.perf_counter() - start)
        for client in clients.values():
            client.close()
    finally:
        server.stop()
    print(f"{len(texts)} sequential requests per transport, held-out sentences, methods: {args.methods}")
    print(f"{'transport':<10}{'median ms':>10}{'p90 ms':>10}")
    for name, values in seconds.items():
        median, p90 = statistics.median(values), statistics.quantiles(values, n=10)[-1]
        print(f"{name:<10}{median * 1e3:>10.1f}{p90 * 1e3:>10.1f}")


if __name__ == "__main__":
    main()
