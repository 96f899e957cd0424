"""Shared test fixtures: the real recorded streams, anyio backends."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

#: The real recordings: ``../shared/fixtures/real`` next to the checkout, or
#: ``$STREAMKIT_REAL_FIXTURES``. The one place every test finds them.
REAL_DIR = Path(
    os.environ.get(
        "STREAMKIT_REAL_FIXTURES",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real",
    )
)


def real_dir() -> Path:
    """The folder of real recorded provider streams (skips, or fails under CI=true)."""
    if not (REAL_DIR / "MANIFEST.json").is_file():
        message = f"shared fixtures not found at {REAL_DIR} (clone next to ../shared to run)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return REAL_DIR


def manifest() -> list[dict[str, Any]]:
    """MANIFEST.json entries, or [] when the folder is absent (tests then skip)."""
    path = REAL_DIR / "MANIFEST.json"
    if not path.is_file():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text())
    return entries


def files_of(dialect: str, outcome: str | None = None) -> list[str]:
    """Fixture file names of one dialect (a placeholder when the folder is absent)."""
    names = [
        e["file"]
        for e in manifest()
        if e["dialect"] == dialect and (outcome is None or e["outcome"] == outcome)
    ]
    return names or ["<recordings missing>"]


def read_real(name: str) -> bytes:
    """Read one recorded stream (skip/fail when the folder is absent)."""
    return (real_dir() / name).read_bytes()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every anyio test on asyncio and on trio."""
    return str(request.param)
