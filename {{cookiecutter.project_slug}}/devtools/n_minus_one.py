"""The N-1 test: the release running now keeps working on the schema of the next pre-deploy phase.

A deploy runs `alembic -x phase=pre-deploy upgrade head` while the previous release still serves
traffic. This migrates a scratch database the same way with this checkout's revisions, then runs
the merge base's API tests (marker `api`) on it with the merge base's own code: a pre-deploy
revision that drops or renames what the running release uses fails them.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from devtools.scratch import scratch_database, scratch_environment

PASSED, FAILED, UNUSABLE = 0, 1, 2
# The remote's default branch, then the usual names for it.
DEFAULT_BASES = ("origin/HEAD", "origin/main", "main")
API_MARKER = "api"
# What the base's tests/conftest.py reads to run on a database migrated for it, as is.
MIGRATED_DATABASE_VARIABLE = "TEST_MIGRATED_DATABASE_URL"
PRE_DEPLOY_UPGRADE = ("-x", "phase=pre-deploy", "upgrade", "head")
# The worktree is removed afterwards: no cache to write into it.
PYTEST_OPTIONS = ("-m", API_MARKER, "--tb=short", "-p", "no:cacheprovider")
PYTEST_NO_TESTS_COLLECTED = 5
HOW_TO_FIX = (
    "move what they need dropped or renamed to a post-deploy revision "
    '(docs/migrations.md, "The N-1 test")'
)


class NMinusOneError(Exception):
    """The test cannot run; the message says why and what to do."""


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise NMinusOneError(
            "git is not installed or not on PATH: the N-1 test checks out the base commit with it"
        ) from None


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def default_base(exists: Callable[[str], bool]) -> str | None:
    """The first of DEFAULT_BASES that exists, None when none does."""
    return next((ref for ref in DEFAULT_BASES if exists(ref)), None)


def merge_base(base: str | None, project: Path) -> tuple[str, str]:
    """The ref compared with (base, else a default) and the commit HEAD forked from it at."""

    def exists(ref: str) -> bool:
        # Written apart: the template engine would read the doubled braces of an f-string.
        peeled = f"{ref}^" + "{commit}"
        return git("rev-parse", "--verify", "--quiet", peeled, cwd=project).returncode == 0

    if git("rev-parse", "--show-toplevel", cwd=project).returncode != 0:
        raise NMinusOneError(f"{project} is not in a git repository: run it from a clone")
    if not exists("HEAD"):
        raise NMinusOneError("this repository has no commit yet: commit, then compare")
    if base is None:
        base = default_base(exists)
        if base is None:
            raise NMinusOneError(
                f"none of {', '.join(DEFAULT_BASES)} exists: pass --base with the branch "
                "or commit this one forks from"
            )
    elif not exists(base):
        raise NMinusOneError(
            f"--base {base}: not a commit or ref in this repository; fetch it first, "
            f"e.g. git fetch origin {base.rsplit('/', 1)[-1]}"
        )
    result = git("merge-base", base, "HEAD", cwd=project)
    if result.returncode != 0:
        raise NMinusOneError(
            f"{base} and HEAD have no common ancestor: pass --base with the branch this one "
            "forks from (a shallow clone needs more history: fetch-depth 0)"
        )
    return base, result.stdout.strip()


@contextmanager
def base_checkout(commit: str, project: Path) -> Iterator[Path]:
    """The project directory of commit, in a temporary git worktree removed afterwards."""
    prefix = git("rev-parse", "--show-prefix", cwd=project).stdout.strip()
    directory = Path(tempfile.mkdtemp(prefix="n-minus-one-"))
    worktree = directory / "base"
    try:
        added = git("worktree", "add", "--detach", "--quiet", str(worktree), commit, cwd=project)
        if added.returncode != 0:
            raise NMinusOneError(f"cannot check out {commit[:12]}: {last_line(added.stderr)}")
        checkout = worktree / prefix
        if not (checkout / "alembic.ini").is_file():
            raise NMinusOneError(
                f"the base {commit[:12]} has no alembic.ini in {prefix or 'the top directory'}: "
                "pass --base with a commit that has this project"
            )
        yield checkout
    finally:
        git("worktree", "remove", "--force", str(worktree), cwd=project)
        shutil.rmtree(directory, ignore_errors=True)
        git("worktree", "prune", cwd=project)


class Commands:
    """Runs the test's commands one at a time; SIGTERM (a cancelled CI job) ends the running one
    and skips the rest, so the worktree and the scratch database are still removed."""

    def __init__(self) -> None:
        self.running: subprocess.Popen[str] | None = None
        self.terminated = False

    def terminate(self, signal_number: int, frame: FrameType | None) -> None:
        # Only a flag and a signal here: an exception raised mid-way through starting a child
        # would leave it running in a directory about to be removed.
        self.terminated = True
        if self.running is not None:
            self.running.terminate()

    def stop_if_terminated(self) -> None:
        if self.terminated:
            raise SystemExit(128 + signal.SIGTERM)

    def run(self, args: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        self.stop_if_terminated()
        with subprocess.Popen(args, text=True, **options) as process:
            self.running = process
            if self.terminated:
                process.terminate()
            stdout, stderr = process.communicate()
        self.running = None
        self.stop_if_terminated()
        return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@contextmanager
def commands_stopped_by_sigterm() -> Iterator[Commands]:
    commands = Commands()
    previous = signal.signal(signal.SIGTERM, commands.terminate)
    try:
        yield commands
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_base_opts_in(checkout: Path, commit: str) -> None:
    """Without the opt-in the base's tests would silently migrate a database of their own."""
    conftest = checkout / "tests" / "conftest.py"
    if not conftest.is_file() or MIGRATED_DATABASE_VARIABLE not in conftest.read_text("utf-8"):
        raise NMinusOneError(
            f"the base {commit[:12]} predates the N-1 test: its tests/conftest.py does not read "
            f"{MIGRATED_DATABASE_VARIABLE}, so its tests would migrate their own database; "
            "merge the N-1 test into the base branch first"
        )


def code_first(checkout: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """environ with checkout's code ahead of whichever copy of the project is installed."""
    # PYTHONPATH comes before site-packages, where an editable install's .pth puts its src.
    paths = [str(checkout / "src"), str(checkout), *filter(None, [environ.get("PYTHONPATH")])]
    return {**environ, "PYTHONPATH": os.pathsep.join(paths)}


def base_environment(
    checkout: Path, environ: Mapping[str, str], migrated_database_url: str
) -> dict[str, str]:
    """The base's tests' environment: its code, on the database migrated for them."""
    return {**code_first(checkout, environ), MIGRATED_DATABASE_VARIABLE: migrated_database_url}


def check_base_code_is_imported(commands: Commands, package: str, checkout: Path) -> None:
    found = commands.run(
        [sys.executable, "-c", f"import {package}; print({package}.__file__)"],
        cwd=checkout,
        env=base_environment(checkout, os.environ, ""),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if found.returncode != 0:
        raise NMinusOneError(f"the base cannot import {package}: {last_line(found.stderr)}")
    imported = Path(found.stdout.strip()).resolve()
    if not imported.is_relative_to(checkout.resolve()):
        raise NMinusOneError(
            f"the base has no src/{package}, so its tests would import {imported} instead: "
            "the N-1 test needs the package in the same place in the base and in HEAD"
        )


def verdict(pytest_code: int, commit: str) -> int:
    if pytest_code == 0:
        print(f"n-minus-one: the API tests of {commit[:12]} pass on this pre-deploy schema")
        return PASSED
    if pytest_code == PYTEST_NO_TESTS_COLLECTED:
        print(
            f"n-minus-one: {commit[:12]} has no tests marked `{API_MARKER}`: mark its API test "
            f"modules with `pytestmark = pytest.mark.{API_MARKER}`",
            file=sys.stderr,
        )
        return UNUSABLE
    if pytest_code == 1:
        print(
            f"n-minus-one: the API tests of {commit[:12]} (FAILED above) fail on this pre-deploy "
            f"schema, so the release running during the deploy would break: {HOW_TO_FIX}",
            file=sys.stderr,
        )
        return FAILED
    print(
        f"n-minus-one: pytest could not run the base's tests (exit {pytest_code}, above)",
        file=sys.stderr,
    )
    return UNUSABLE


def migrate_and_test(
    commands: Commands, database_url: str, prefix: str, project: Path, checkout: Path, commit: str
) -> int:
    """Migrate a scratch database with project's pre-deploy phase; run checkout's API tests."""
    with scratch_database(database_url, prefix) as scratch:
        print("n-minus-one: alembic -x phase=pre-deploy upgrade head", flush=True)
        upgrade = commands.run(
            [sys.executable, "-m", "alembic", *PRE_DEPLOY_UPGRADE],
            env=scratch_environment(code_first(project, os.environ), scratch),
        )
        if upgrade.returncode != 0:
            print("n-minus-one: the pre-deploy upgrade failed (above)", file=sys.stderr)
            return UNUSABLE
        print(f"n-minus-one: pytest -m {API_MARKER} in {commit[:12]}", flush=True)
        tests = commands.run(
            [sys.executable, "-m", "pytest", *PYTEST_OPTIONS],
            cwd=checkout,
            env=base_environment(checkout, os.environ, scratch),
        )
        return verdict(tests.returncode, commit)


def run(database_url: str, base: str | None, package: str, prefix: str) -> int:
    """The whole test; the scratch database is created beside database_url's and dropped."""
    project = Path.cwd()
    if not (project / "alembic.ini").is_file():
        print("n-minus-one: no alembic.ini here; run it from the project root", file=sys.stderr)
        return UNUSABLE
    try:
        with commands_stopped_by_sigterm() as commands:
            ref, commit = merge_base(base, project)
            print(f"n-minus-one: base {commit[:12]} (merge base of HEAD and {ref})", flush=True)
            with base_checkout(commit, project) as checkout:
                commands.stop_if_terminated()
                check_base_opts_in(checkout, commit)
                check_base_code_is_imported(commands, package, checkout)
                return migrate_and_test(commands, database_url, prefix, project, checkout, commit)
    except NMinusOneError as error:
        print(f"n-minus-one: {error}", file=sys.stderr)
        return UNUSABLE
