"""Fixtures shared by the template tests; shared helpers live in tests/helpers.py."""

import os

import pytest


@pytest.fixture
def clean_env() -> dict[str, str]:
    """The environment without variables that would leak into a baked project's settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH"}
    }
