"""Shared fixtures for the spec-format tests: the shipped JSON Schemas and the README."""

from __future__ import annotations

import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import pytest

SPECS = Path(__file__).resolve().parents[2] / "specs"


def load_schema(name: str) -> dict[str, Any]:
    """A schema as the installed package ships it (``cti_fsm.specs`` is ``specs/``)."""
    text = importlib.resources.files("cti_fsm.specs").joinpath(name).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@pytest.fixture(scope="session")
def chart_schema() -> dict[str, Any]:
    return load_schema("schema.json")


@pytest.fixture(scope="session")
def vendor_schema() -> dict[str, Any]:
    return load_schema("vendor-map.schema.json")


@pytest.fixture(scope="session")
def readme() -> str:
    return (SPECS / "README.md").read_text("utf-8")


def _readme_example(readme: str, marker: str) -> str:
    """The YAML block that follows ``<!-- example: MARKER -->`` in the README."""
    found = re.search(
        rf"<!-- example: {re.escape(marker)} -->\n```yaml\n(.*?)```", readme, flags=re.S
    )
    assert found, f"README has no example marked {marker!r}"
    return found.group(1)


@pytest.fixture(scope="session")
def readme_chart(readme: str) -> str:
    """The README's worked chart example (``desk``), as YAML text."""
    return _readme_example(readme, "chart")


@pytest.fixture(scope="session")
def readme_vendor_map(readme: str) -> str:
    """The README's worked vendor-map example (``acme`` for ``desk``), as YAML text."""
    return _readme_example(readme, "vendor map")
