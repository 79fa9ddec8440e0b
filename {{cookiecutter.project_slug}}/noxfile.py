"""Developer and CI sessions: `nox` runs the defaults, `nox --list` shows them all."""

from pathlib import Path

import nox

# Sessions install what uv.lock pins, with uv: the dev extra's nox[uv] puts uv beside nox.
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests", "migrations", "lint-migrations"]
nox.options.reuse_venv = "yes"


def install(session: nox.Session) -> None:
    """The project and its dev extra at the versions in uv.lock; fails if the lock is stale."""
    # nox points uv at the session's virtualenv (UV_PROJECT_ENVIRONMENT).
    session.run_install("uv", "sync", "--locked", "--extra", "dev")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    install(session)
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Mypy (strict) on the package, migrations/env.py and devtools."""
    install(session)
    session.run("mypy", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against the database in DATABASE_URL."""
    install(session)
    session.run("pytest", *session.posargs)


@nox.session
def migrations(session: nox.Session) -> None:
    """Upgrade, check for drift, downgrade to base, upgrade again: on a scratch database."""
    install(session)
    # A scratch database beside DATABASE_URL's: `nox` must not wipe your development data.
    session.run("python", "-m", "devtools", "migration-roundtrip")


@nox.session(name="lint-migrations")
def lint_migrations(session: nox.Session) -> None:
    """The migration linter on migrations/versions (pass --base origin/main in CI)."""
    install(session)
    session.run("python", "-m", "devtools", "lint-migrations", *session.posargs)

{%- if cookiecutter.tenancy == "single" %}


@nox.session(name="n-minus-one")
def n_minus_one(session: nox.Session) -> None:
    """The merge base's API tests on this branch's pre-deploy schema (--base REF to choose)."""
    install(session)
    session.run("python", "-m", "devtools", "n-minus-one", *session.posargs)
{%- endif %}


@nox.session
def audit(session: nox.Session) -> None:
    """pip-audit every version uv.lock pins; asks PyPI's advisory database, so not a default."""
    install(session)
    requirements = Path(session.create_tmp()) / "locked-requirements.txt"
    session.run(
        "uv",
        "export",
        "--quiet",
        "--locked",
        "--all-extras",
        "--no-emit-project",
        "--format",
        "requirements.txt",
        "--output-file",
        str(requirements),
    )
    # The export is pinned and hashed: pip-audit reads it as is, pip resolves nothing.
    # --strict: a package pip-audit could not look up fails the audit instead of passing it.
    session.run(
        "pip-audit",
        "--requirement",
        str(requirements),
        "--disable-pip",
        "--strict",
        "--progress-spinner",
        "off",
        *session.posargs,
    )
