"""Sessions for working on the template; CI runs `.ci/run`, which runs the full suite."""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "fast"]


def sync(session: nox.Session) -> None:
    session.run_install(
        "uv", "sync", "--locked", env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff on the template's own code (hooks, tests, bench)."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def fast(session: nox.Session) -> None:
    """Hook unit tests and the render-and-lint matrix over every option combination."""
    sync(session)
    session.run("pytest", "-n", "2", "-m", "not realdb", *session.posargs)


@nox.session
def realdb(session: nox.Session) -> None:
    """Representative bakes installed and run against PostgreSQL and SQLite."""
    sync(session)
    session.run("pytest", "-n", "2", "-m", "realdb", *session.posargs)
