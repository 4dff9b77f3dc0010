"""A progress bar for batch helpers: tqdm when it is installed, else a one-line counter on stderr
(tqdm is not a dependency: most callers of a service SDK never batch)."""

from __future__ import annotations

import sys
from types import TracebackType


class Progress:
    def __init__(self, total: int, enabled: bool, label: str = "explained") -> None:
        self.total = total
        self.done = 0
        self.label = label
        self._bar = None
        self._enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                self._write()
            else:
                self._bar = tqdm(total=total, desc=label, unit="text")

    def _write(self) -> None:
        sys.stderr.write(f"\r{self.label} {self.done}/{self.total}")
        sys.stderr.flush()

    def update(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
        elif self._enabled:
            self._write()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._enabled:
            sys.stderr.write("\n")
