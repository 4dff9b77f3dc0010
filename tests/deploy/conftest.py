"""Helpers for the static checks of deploy artefacts (no server, no Docker engine, no cluster)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def parse_properties(text: str) -> dict[str, str]:
    """A Java .properties file as TorchServe reads it: the last value of a key wins."""
    lines = (line.strip() for line in text.splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture
def properties() -> Callable[[str], dict[str, str]]:
    return parse_properties
