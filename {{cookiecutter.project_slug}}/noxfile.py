"""Developer and CI sessions: `nox` runs the defaults, `nox --list` shows them all."""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "migrations", "lint-migrations"]
nox.options.reuse_venv = "yes"


def install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff")
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
