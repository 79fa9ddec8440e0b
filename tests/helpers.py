"""What the template tests and bench/ share: the options, baking, commands, scratch databases.

The option combinations and the defaults come from cookiecutter.json, filtered by the pre-gen
hook's own `problems()`, so adding a choice there adds it to the matrix.
"""

import asyncio
import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

TEMPLATE = Path(__file__).resolve().parents[1]
POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_SERVER", "postgres@127.0.0.1:5432")
# MariaDB (or MySQL) for the mysql bakes: a user that may create databases, no password.
MYSQL_HOST, MYSQL_PORT, MYSQL_USER = "127.0.0.1", "3306", "root"
MYSQL_SERVER = f"{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}"
START_DATABASES = "start the test databases with `docker compose up -d --wait` in the template"


def load_hook(name: str) -> ModuleType:
    """A hook as a module; its Jinja lines are string constants, so the raw file imports."""
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "hooks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")


def default_answers() -> dict[str, str]:
    """The answers `cookiecutter --no-input` gives, derived names included."""
    context = generate_context(context_file=str(TEMPLATE / "cookiecutter.json"))
    answers = prompt_for_config(context, no_input=True)
    return {key: value for key, value in answers.items() if not key.startswith("_")}


DEFAULTS = default_answers()
SLUG = DEFAULTS["project_slug"]
_CHOICES: dict[str, list[str]] = {
    option: values
    for option, values in json.loads((TEMPLATE / "cookiecutter.json").read_text()).items()
    if isinstance(values, list) and not option.startswith("_")
}
# python_version only changes a version number in the CI and Docker files (test_ci_configs.py
# bakes each); every other choice changes which files a project has, so the matrix crosses them.
OPTIONS = {option: values for option, values in _CHOICES.items() if option != "python_version"}


def combination_id(answers: dict[str, str]) -> str:
    """A readable test id, e.g. `sqlite-no-example-gitlab-no-docker`."""
    return "-".join(
        [
            answers["database"] + ("-tenants" if answers["tenancy"] != "single" else ""),
            "example" if answers["example_model"] == "yes" else "no-example",
            answers["ci"] if answers["ci"] != "none" else "no-ci",
            "docker" if answers["docker"] == "yes" else "no-docker",
            *(["kubernetes"] if answers["deploy"] == "kubernetes" else []),
        ]
    )


VALID_COMBINATIONS = [
    answers
    for values in itertools.product(*OPTIONS.values())
    if not pre_gen.problems({**DEFAULTS, **(answers := dict(zip(OPTIONS, values, strict=True)))})
]


def bake(output_dir: Path, template: Path = TEMPLATE, **answers: Any) -> Path:
    """Render the template with the given answers (defaults otherwise); return the project."""
    output_dir.mkdir(parents=True, exist_ok=True)
    # A private config keeps replay files and template clones out of the user's home.
    config = output_dir / "cookiecutter-config.yaml"
    config.write_text(
        f"replay_dir: {output_dir / 'replay'}\ncookiecutters_dir: {output_dir / 'clones'}\n"
    )
    project = cookiecutter(
        str(template),
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


def postgres_problem() -> str | None:
    """Why the local PostgreSQL cannot be used, with how to start it; None when it can."""
    try:
        asyncio.run(run_as_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as error:
        return f"PostgreSQL at {POSTGRES_SERVER} is unreachable ({error}): {START_DATABASES}"
    return None


@contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """The name of a new database on the local server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(run_as_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def mysql_client(sql: str, database: str = "") -> list[str]:
    """The rows of one statement, through the `mariadb` (or `mysql`) command-line client."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise OSError("no mariadb or mysql client on PATH: install mariadb-client")
    result = subprocess.run(
        [client, f"--host={MYSQL_HOST}", f"--port={MYSQL_PORT}", f"--user={MYSQL_USER}",
         "--connect-timeout=5", "--batch", "--skip-column-names", f"--execute={sql}",
         *([database] if database else [])],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if result.returncode != 0:
        raise OSError(result.stderr.strip())
    return result.stdout.splitlines()


def mysql_problem() -> str | None:
    """Why the local MariaDB cannot be used, with how to start it; None when it can."""
    try:
        mysql_client("SELECT 1")
    except (OSError, subprocess.SubprocessError) as error:
        return f"MariaDB at {MYSQL_SERVER} is unreachable ({error}): {START_DATABASES}"
    return None


@contextmanager
def scratch_mysql_database(prefix: str) -> Iterator[str]:
    """The name of a new utf8mb4 database on the local MariaDB, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    mysql_client(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield name
    finally:
        mysql_client(f"DROP DATABASE IF EXISTS `{name}`")


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


def run_unchecked(
    args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """A command expected to fail: its result, whatever its exit code."""
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def install(project: Path, env: dict[str, str]) -> dict[str, str]:
    """A virtualenv inside the baked project with it installed; returns the env to run in."""
    venv = project / ".venv"
    run([tool("uv"), "venv", "--quiet", "--python", sys.executable, str(venv)], project, env)
    venv_env = {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{env['PATH']}"}
    # Compiled once here: alembic, pytest and uvicorn subprocesses then import bytecode even
    # where PYTHONDONTWRITEBYTECODE is set (uv, unlike pip, compiles only when asked).
    run(
        [tool("uv"), "pip", "install", "--quiet", "--compile-bytecode", "-e", ".[dev]"],
        project,
        venv_env,
    )
    return venv_env


# A schema-per-tenant revision, checklist ticked: one nullable column on every tenant's authors.
TENANT_COLUMN_REVISION = '''"""{message}

Review checklist (tick each box with [x] before merging):
- [x] Reviewed
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None
phase = "pre-deploy"


def upgrade(scope: str) -> None:
    globals()["upgrade_" + scope]()


def downgrade(scope: str) -> None:
    globals()["downgrade_" + scope]()


def upgrade_shared() -> None:
    pass


def downgrade_shared() -> None:
    pass


def upgrade_tenant() -> None:
    op.add_column("authors", sa.Column("{column}", sa.Text(), nullable=True))


def downgrade_tenant() -> None:
    op.drop_column("authors", "{column}")
'''
