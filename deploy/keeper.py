"""Keeps a `make run` server's inference key from expiring, for as long as the server runs.

TorchServe's inference key expires 60 minutes after TorchServe made it, and nothing renews it on its
own: a `make run` server would refuse every client after an hour. The container's health check renews
it there (deploy/healthcheck.py); on one machine, `deploy.launch start` starts this loop beside the
server. Every ``--every`` seconds it runs the health check's ``check``, which asks the management API
for a new inference key once the current one expires within ``--rotate-before`` (TorchServe rewrites
key_file.json; clients that read the file, like the SDK with ``key_file=``, keep working). It exits
when the key file is gone (TorchServe deletes it at stop) or the server has not answered for
``--give-up`` seconds.

    python -m deploy.keeper --key-file var/torchserve/key_file.json --inference-url ... --management-url ...
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deploy.healthcheck import ROTATE_BEFORE, check


def keep(
    key_file: Path, inference_url: str, management_url: str, every: float, rotate_before: timedelta, give_up: float
) -> int:
    """Check (and rotate) until the server is gone; the exit status says why it ended."""
    last_answer = time.monotonic()
    while True:
        if not key_file.exists():
            return 0  # TorchServe stopped and removed its keys
        try:
            problem = check(key_file, inference_url, management_url, datetime.now(UTC), rotate_before)
        except (OSError, ValueError, KeyError) as error:
            problem = f"{type(error).__name__}: {error}"
        if problem is None:
            last_answer = time.monotonic()
        else:
            print(f"deploy.keeper: {problem}", file=sys.stderr, flush=True)
            if time.monotonic() - last_answer > give_up:
                return 1
        time.sleep(every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--inference-url", required=True)
    parser.add_argument("--management-url", required=True)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between checks")
    parser.add_argument("--rotate-before", type=float, default=ROTATE_BEFORE.total_seconds(), help="seconds")
    parser.add_argument("--give-up", type=float, default=600.0, help="seconds without an answer before exiting")
    args = parser.parse_args(argv)
    rotate_before = timedelta(seconds=args.rotate_before)
    return keep(args.key_file, args.inference_url, args.management_url, args.every, rotate_before, args.give_up)


if __name__ == "__main__":
    sys.exit(main())
