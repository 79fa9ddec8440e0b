"""Baking helpers shared by the template tests."""

import asyncio
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_SERVER", "postgres@127.0.0.1:5432")
SLUG = "my_service"

OPTIONS: dict[str, list[str]] = {
    "database": ["postgresql", "sqlite"],
    "tenancy": ["single", "schema-per-tenant"],
    "example_model": ["yes", "no"],
    "ci": ["github", "gitlab", "none"],
    "docker": ["yes", "no"],
}


def is_valid(answers: dict[str, str]) -> bool:
    return answers["database"] == "postgresql" or (
        answers["docker"] == "no" and answers["tenancy"] == "single"
    )


def combination_id(answers: dict[str, str]) -> str:
    """A readable test id, e.g. `sqlite-no-example-gitlab-no-docker`."""
    return "-".join(
        [
            answers["database"] + ("-tenants" if answers["tenancy"] != "single" else ""),
            "example" if answers["example_model"] == "yes" else "no-example",
            answers["ci"] if answers["ci"] != "none" else "no-ci",
            "docker" if answers["docker"] == "yes" else "no-docker",
        ]
    )


VALID_COMBINATIONS = [
    answers
    for values in itertools.product(*OPTIONS.values())
    if is_valid(answers := dict(zip(OPTIONS, values, strict=True)))
]


def bake(output_dir: Path, **answers: Any) -> Path:
    """Render the template with the given answers (defaults otherwise); return the project."""
    output_dir.mkdir(parents=True, exist_ok=True)
    # A private config keeps replay files and template clones out of the user's home.
    config = output_dir / "cookiecutter-config.yaml"
    config.write_text(
        f"replay_dir: {output_dir / 'replay'}\ncookiecutters_dir: {output_dir / 'clones'}\n"
    )
    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        output_dir=str(output_dir),
        extra_context=answers,
        config_file=str(config),
    )
    return Path(project)


async def run_as_admin(statement: str) -> None:
    """One statement on the local server's maintenance database."""
    connection = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/postgres", timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """The name of a new database on the local server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(run_as_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command in the baked project; fail the test with its output if it fails."""
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"`{' '.join(args)}` exited {result.returncode} in {cwd}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def tool(name: str) -> str:
    """A console script installed next to the interpreter running the tests."""
    return str(Path(sys.executable).parent / name)


@pytest.fixture
def clean_env() -> dict[str, str]:
    """The environment without variables that would leak into a baked project's settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH"}
    }
