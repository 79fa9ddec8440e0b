"""CI, dependency-update, pre-commit and container files: valid, zizmor-clean, as described.

Everything runs offline: check-jsonschema uses its vendored schemas, zizmor runs without its
online audits, and pre-commit only validates its configuration: its remote hook repositories
cannot be cloned here, and test_bake_matrix.py runs their main tool, ruff, on every bake.
"""

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import (
    SLUG,
    START_DATABASES,
    TEMPLATE,
    VALID_COMBINATIONS,
    bake,
    combination_id,
    run,
    tool,
)

PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses: \S+ # v\d+(\.\d+)*$")
RELEASED_REV = re.compile(r"^v\d+\.\d+\.\d+$")
MIGRATION_FILE = "migrations/versions/2026_11_25_1200-5c8a1d2e9f03_create_authors_and_books.py"
POSTGRES_URL = f"postgresql+asyncpg://postgres@{{host}}:5432/{SLUG}"
MYSQL_URL = f"mysql+aiomysql://root@{{host}}:3306/{SLUG}"
# The CI service's image: MariaDB unless the repository (GitHub) or project (GitLab) variable
# MYSQL_IMAGE names another, such as mysql:8.4.
MYSQL_IMAGE_EXPRESSION = "${{ vars.MYSQL_IMAGE || 'mariadb:11' }}"
# Each image has one of the two: mariadb:11 lost mysqladmin, mysql:8.4 never had healthcheck.sh.
MYSQL_HEALTH_COMMAND = (
    "healthcheck.sh --connect --innodb_initialized"
    " || mysqladmin ping --host=127.0.0.1 --user=root --silent"
)
DATABASES = ["postgresql", "sqlite", "mysql"]
SQLITE_URL = f"sqlite+aiosqlite:///./{SLUG}.db"
TEMPLATE_WORKFLOWS = sorted((TEMPLATE / ".github" / "workflows").glob("*.yml"))
GITHUB = [answers for answers in VALID_COMBINATIONS if answers["ci"] == "github"]
GITLAB = [answers for answers in VALID_COMBINATIONS if answers["ci"] == "gitlab"]
DOCKER = [answers for answers in VALID_COMBINATIONS if answers["docker"] == "yes"]


@pytest.fixture(scope="session")
def baked_once(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, str]], Path]:
    """Bake each combination once per test process; these tests only read the result."""
    projects: dict[str, Path] = {}

    def bake_once(answers: dict[str, str]) -> Path:
        key = combination_id(answers)
        if key not in projects:
            projects[key] = bake(tmp_path_factory.mktemp(key), **answers)
        return projects[key]

    return bake_once


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def check_schema(schema: str, *paths: Path) -> None:
    run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        cwd=paths[0].parent,
    )


def zizmor_findings(cwd: Path, *paths: Path) -> list[str]:
    """zizmor's findings at medium severity or above, as `audit: file` lines."""
    result = run(
        [
            tool("zizmor"),
            "--offline",
            "--format",
            "json",
            "--min-severity",
            "medium",
            *map(str, paths),
        ],
        cwd=cwd,
    )
    return [
        f"{finding['ident']}: {location['symbolic']['key']}"
        for finding in json.loads(result.stdout)
        for location in finding["locations"][:1]
    ]


def default_nox_sessions(project: Path) -> list[str]:
    """`nox.options.sessions` as the baked noxfile sets it."""
    for node in ast.walk(ast.parse((project / "noxfile.py").read_text())):
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "nox.options.sessions":
            return list(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py sets no nox.options.sessions")


def nox_sessions_run_by(commands: list[str]) -> set[str]:
    """Session names that `nox --sessions a b` / `nox --session a -- args` commands run."""
    sessions: set[str] = set()
    for command in commands:
        for line in command.splitlines():
            words = line.split(" -- ")[0].split()
            if (
                words[:1] == ["nox"]
                and len(words) > 2
                and words[1] in {"-s", "--session", "--sessions"}
            ):
                sessions.update(words[2:])
    return sessions


# --- every bake ------------------------------------------------------------------------------


@pytest.mark.parametrize("answers", VALID_COMBINATIONS, ids=combination_id)
def test_pre_commit_config_is_valid(
    baked_once: Callable[[dict[str, str]], Path], answers: dict[str, str]
) -> None:
    project = baked_once(answers)
    run([tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"], cwd=project)


@pytest.mark.parametrize("answers", GITHUB, ids=combination_id)
def test_github_workflow_passes_its_schema_and_zizmor(
    baked_once: Callable[[dict[str, str]], Path], answers: dict[str, str]
) -> None:
    project = baked_once(answers)
    workflows = sorted((project / ".github" / "workflows").glob("*.yml"))
    assert [path.name for path in workflows] == ["ci.yml"]
    check_schema("vendor.github-workflows", *workflows)
    for job in load(workflows[0])["jobs"].values():
        assert "timeout-minutes" in job
    dependabot = project / ".github" / "dependabot.yml"
    check_schema("vendor.dependabot", dependabot)
    assert zizmor_findings(project, *workflows, dependabot) == []


@pytest.mark.parametrize("answers", GITLAB, ids=combination_id)
def test_gitlab_pipeline_and_renovate_pass_their_schemas(
    baked_once: Callable[[dict[str, str]], Path], answers: dict[str, str]
) -> None:
    check_schema("vendor.gitlab-ci", baked_once(answers) / ".gitlab-ci.yml")
    check_schema("vendor.renovate", baked_once(answers) / "renovate.json")


@pytest.mark.parametrize("answers", DOCKER, ids=combination_id)
def test_compose_file_passes_the_compose_spec(
    baked_once: Callable[[dict[str, str]], Path], answers: dict[str, str]
) -> None:
    check_schema("vendor.compose-spec", baked_once(answers) / "compose.yaml")


# --- what the GitHub workflow does -----------------------------------------------------------


@pytest.mark.parametrize("database", DATABASES)
def test_github_workflow_runs_the_checks_against_the_chosen_database(
    tmp_path: Path, database: str
) -> None:
    project = bake(tmp_path, database=database, docker="no", python_version="3.13")
    workflow = load(project / ".github" / "workflows" / "ci.yml")
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert set(workflow["jobs"]) == {"checks", "n-minus-one", "migration-report", "audit"}
    job = workflow["jobs"]["checks"]
    assert job["timeout-minutes"] <= 30
    steps = job["steps"]
    commands = [step["run"] for step in steps if "run" in step]

    services = job.get("services", {})
    if database == "postgresql":
        postgres = services["postgres"]
        assert postgres["image"] == "postgres:17"
        assert postgres["env"]["POSTGRES_DB"] == SLUG
        assert "--health-cmd" in postgres["options"]
        assert job["env"]["DATABASE_URL"] == POSTGRES_URL.format(host="127.0.0.1")
    elif database == "mysql":
        mysql = services["mysql"]
        assert mysql["image"] == MYSQL_IMAGE_EXPRESSION
        # The names both images read; root creates and drops the tests' own databases.
        assert mysql["env"] == {"MYSQL_DATABASE": SLUG, "MYSQL_ALLOW_EMPTY_PASSWORD": "yes"}
        assert mysql["ports"] == ["3306:3306"]
        assert f'--health-cmd "{MYSQL_HEALTH_COMMAND}"' in mysql["options"]
        assert job["env"]["DATABASE_URL"] == MYSQL_URL.format(host="127.0.0.1")
    else:
        assert services == {}
        assert job["env"]["DATABASE_URL"] == SQLITE_URL
    assert job["env"]["UV_COMPILE_BYTECODE"] == "1"
    # PostgreSQL bakes' tests start a PgBouncer of their own (tests/test_pgbouncer.py).
    installs_pgbouncer = any("apt-get install -y -qq pgbouncer" in run for run in commands)
    assert installs_pgbouncer == (database == "postgresql")

    # CI runs exactly the sessions a bare `nox` runs on a laptop; the audit job adds its own.
    assert nox_sessions_run_by(commands) == set(default_nox_sessions(project))
    if database != "sqlite":
        assert "alembic upgrade head --sql > migrations.sql" in commands
        upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
        assert upload["with"]["path"] == "migrations.sql"
    else:
        # SQLite's batch operations cannot be rendered offline: the revisions run for real.
        assert not any("--sql" in command for command in commands)
        assert not any(s.get("uses", "").startswith("actions/upload-artifact@") for s in steps)
        assert "nox --session migrations" in commands


@pytest.mark.parametrize("job_name", ["checks", "n-minus-one", "migration-report", "audit"])
def test_github_jobs_install_only_what_uv_lock_pins(tmp_path: Path, job_name: str) -> None:
    project = bake(tmp_path, python_version="3.13")
    job = load(project / ".github" / "workflows" / "ci.yml")["jobs"][job_name]
    steps = job["steps"]
    setup_uv = next(s for s in steps if s.get("uses", "").startswith("astral-sh/setup-uv@"))
    assert setup_uv["with"] == {
        "version-file": "uv.lock",
        "python-version": "3.13",
        "activate-environment": True,
    }
    commands = [step["run"] for step in steps if "run" in step]
    assert commands[0] == "uv sync --locked --extra dev"
    assert not any("pip install" in command for command in commands)
    if job_name == "audit":
        assert nox_sessions_run_by(commands) == {"audit"}
        assert "audit" not in default_nox_sessions(project), "needs the network: CI only"


@pytest.mark.parametrize("database", DATABASES)
def test_github_and_gitlab_run_the_same_commands(tmp_path: Path, database: str) -> None:
    """So test_real_projects.py, which runs the workflow's migration steps, covers GitLab too."""
    github = bake(tmp_path / "github", database=database, docker="no")
    gitlab = bake(tmp_path / "gitlab", database=database, docker="no", ci="gitlab")
    jobs = load(github / ".github" / "workflows" / "ci.yml")["jobs"]
    pipeline = load(gitlab / ".gitlab-ci.yml")
    install = pipeline["default"]["before_script"][:1]

    def unconditional(steps: list[dict[str, Any]]) -> list[str]:
        # GitLab's jobs run as root (apt-get for PgBouncer); GitHub's runner uses sudo.
        runs = [step["run"] for step in steps if "run" in step and "if" not in step]
        return [command.replace("sudo ", "") for command in runs]

    # The last script entry lints migrations, for merge requests or not: the two `if:` steps.
    assert unconditional(jobs["checks"]["steps"]) == install + pipeline["checks"]["script"][:-1]
    assert unconditional(jobs["audit"]["steps"]) == install + pipeline["audit"]["script"]


def test_github_workflow_lints_migrations_against_the_base_branch_on_pull_requests(
    tmp_path: Path,
) -> None:
    project = bake(tmp_path)
    job = load(project / ".github" / "workflows" / "ci.yml")["jobs"]["checks"]
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    (on_pull_request,) = [
        s for s in job["steps"] if s.get("if") == "github.event_name == 'pull_request'"
    ]
    assert on_pull_request["run"] == 'nox --session lint-migrations -- --base "origin/${BASE_REF}"'
    assert on_pull_request["env"] == {"BASE_REF": "${{ github.base_ref }}"}


@pytest.mark.parametrize(
    "workflow",
    [pytest.param("baked", id="baked"), *(pytest.param(p, id=p.name) for p in TEMPLATE_WORKFLOWS)],
)
def test_actions_are_pinned_to_commits_with_a_version_comment(
    tmp_path: Path, workflow: Any
) -> None:
    path = bake(tmp_path) / ".github" / "workflows" / "ci.yml" if workflow == "baked" else workflow
    text = path.read_text()
    uses = [line.strip() for line in text.splitlines() if line.strip().startswith("- uses:")]
    assert uses
    for line in uses:
        assert VERSION_COMMENT.search(line), f"{path.name}: no `# vX.Y.Z` comment: {line}"
        action = line.removeprefix("- uses:").split("#")[0].strip()
        assert PINNED_ACTION.match(action), f"{path.name}: not pinned to a commit: {action}"
    for step in (s for job in load(path)["jobs"].values() for s in job["steps"]):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("database", DATABASES)
def test_n_minus_one_runs_on_pull_and_merge_requests_against_the_base(
    tmp_path: Path, database: str
) -> None:
    """The base's API tests on the change's pre-deploy schema, on the checks job's database."""
    github = bake(tmp_path / "github", database=database, docker="no")
    jobs = load(github / ".github" / "workflows" / "ci.yml")["jobs"]
    job, checks = jobs["n-minus-one"], jobs["checks"]
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["timeout-minutes"] <= 15
    assert (job.get("services"), job["env"]) == (checks.get("services"), checks["env"])
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    (step,) = [s for s in job["steps"] if "nox" in s.get("run", "")]
    assert step["run"] == 'nox --session n-minus-one -- --base "origin/${BASE_REF}"'
    assert step["env"] == {"BASE_REF": "${{ github.base_ref }}"}

    gitlab = bake(tmp_path / "gitlab", database=database, docker="no", ci="gitlab")
    pipeline = load(gitlab / ".gitlab-ci.yml")
    job, checks = pipeline["n-minus-one"], pipeline["checks"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert job.get("services") == checks.get("services")
    assert job["variables"] == checks["variables"]
    (command,) = job["script"]
    assert command == 'nox --session n-minus-one -- --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA"'


def test_n_minus_one_is_left_out_of_schema_per_tenant_bakes(tmp_path: Path) -> None:
    """The base's tests create a tenant each, which the base refuses on a newer schema."""
    github = bake(tmp_path / "github", tenancy="schema-per-tenant", docker="no")
    assert "n-minus-one" not in load(github / ".github" / "workflows" / "ci.yml")["jobs"]
    assert "n-minus-one" not in (github / "noxfile.py").read_text()
    gitlab = bake(tmp_path / "gitlab", tenancy="schema-per-tenant", docker="no", ci="gitlab")
    assert "n-minus-one" not in load(gitlab / ".gitlab-ci.yml")


@pytest.mark.parametrize("database", DATABASES)
def test_the_migration_report_is_summarised_uploaded_and_one_comment(
    tmp_path: Path, database: str
) -> None:
    """Only this job may write to pull requests; forks, whose token cannot, keep the summary."""
    github = bake(tmp_path / "github", database=database, docker="no")
    jobs = load(github / ".github" / "workflows" / "ci.yml")["jobs"]
    job = jobs["migration-report"]
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert [name for name, other in jobs.items() if "permissions" in other] == ["migration-report"]
    assert (job.get("services"), job["env"]) == (
        jobs["checks"].get("services"),
        jobs["checks"]["env"],
    )
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    (report,) = [s for s in job["steps"] if "migration-report --base" in s.get("run", "")]
    assert 'python -m devtools migration-report --base "origin/${BASE_REF}"' in report["run"]
    assert 'cat migration-report.md >> "$GITHUB_STEP_SUMMARY"' in report["run"]
    assert report["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    upload = next(
        s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")
    )
    assert upload["with"]["path"].split() == ["migration-report.md", "migration-report.json"]
    comment = job["steps"][-1]
    assert comment["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert comment["env"]["GH_TOKEN"] == "${{ github.token }}"
    # The previous comment is found by the report's first line and edited, never repeated.
    assert 'startswith("<!-- migration-report -->")' in comment["run"]
    assert "--method PATCH" in comment["run"]

    gitlab = bake(tmp_path / "gitlab", database=database, docker="no", ci="gitlab")
    pipeline = load(gitlab / ".gitlab-ci.yml")
    job, checks = pipeline["migration-report"], pipeline["checks"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert (job.get("services"), job["variables"]) == (checks.get("services"), checks["variables"])
    assert job["script"][1] == (
        'python -m devtools migration-report --base "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"'
        " --output migration-report.md --json migration-report.json"
    )
    assert job["script"][2] == "cat migration-report.md"
    assert 'if [ -n "$MIGRATION_REPORT_TOKEN" ]' in job["script"][3]
    assert job["artifacts"]["paths"] == ["migration-report.md", "migration-report.json"]
    note = gitlab / "devtools" / "migration_report" / "gitlab_note.py"
    assert "MIGRATION_REPORT_TOKEN" in note.read_text()


# --- what the GitLab pipeline does -----------------------------------------------------------


@pytest.mark.parametrize("database", DATABASES)
def test_gitlab_pipeline_runs_the_checks_against_the_chosen_database(
    tmp_path: Path, database: str
) -> None:
    project = bake(tmp_path, ci="gitlab", database=database, docker="no", python_version="3.11")
    pipeline = load(project / ".gitlab-ci.yml")
    job = pipeline["checks"]
    if database == "postgresql":
        (service,) = job["services"]
        assert service["name"] == "postgres:17"
        assert service["variables"]["POSTGRES_DB"] == SLUG
        assert job["variables"]["DATABASE_URL"] == POSTGRES_URL.format(host=service["alias"])
    elif database == "mysql":
        (service,) = job["services"]
        # A project CI/CD variable MYSQL_IMAGE overrides the pipeline's default.
        assert service["name"] == "$MYSQL_IMAGE"
        assert pipeline["variables"]["MYSQL_IMAGE"] == "mariadb:11"
        assert service["variables"] == {"MYSQL_DATABASE": SLUG, "MYSQL_ALLOW_EMPTY_PASSWORD": "yes"}
        assert job["variables"]["DATABASE_URL"] == MYSQL_URL.format(host=service["alias"])
    else:
        assert "services" not in job
        assert job["variables"]["DATABASE_URL"] == SQLITE_URL
    assert job["variables"]["GIT_DEPTH"] == 0
    assert pipeline["variables"]["UV_COMPILE_BYTECODE"] == "1"
    installs_pgbouncer = any("apt-get install -y -qq pgbouncer" in run for run in job["script"])
    assert installs_pgbouncer == (database == "postgresql")
    assert nox_sessions_run_by(job["script"]) == set(default_nox_sessions(project))
    assert nox_sessions_run_by(pipeline["audit"]["script"]) == {"audit"}
    assert ("MYSQL_IMAGE" in pipeline["variables"]) == (database == "mysql")
    if database != "sqlite":
        assert "alembic upgrade head --sql > migrations.sql" in job["script"]
        assert job["artifacts"]["paths"] == ["migrations.sql"]
    else:
        assert not any("--sql" in command for command in job["script"])
        assert "artifacts" not in job
        assert "nox --session migrations" in job["script"]
    assert '--base "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"' in job["script"][-1]


def test_gitlab_jobs_install_only_what_uv_lock_pins(tmp_path: Path) -> None:
    project = bake(tmp_path, ci="gitlab", python_version="3.11")
    pipeline = load(project / ".gitlab-ci.yml")
    default = pipeline["default"]
    # uv at a version Renovate can move, on the chosen Python; never a downloaded Python.
    assert re.fullmatch(
        r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+-python3\.11-bookworm", default["image"]
    )
    assert pipeline["variables"]["UV_PYTHON"] == "3.11"
    assert pipeline["variables"]["UV_PYTHON_DOWNLOADS"] == "never"
    assert default["before_script"] == ["uv sync --locked --extra dev", ". .venv/bin/activate"]
    assert default["cache"]["key"] == {"files": ["uv.lock"]}
    assert default["cache"]["paths"] == [".cache/uv"]
    assert pipeline["variables"]["UV_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/uv"
    for name in ("checks", "audit"):
        assert not any("pip install" in command for command in pipeline[name]["script"])
        assert "before_script" not in pipeline[name], "each job installs from the lock"


# --- dependency updates ----------------------------------------------------------------------


def test_dependabot_updates_the_lock_actions_and_hooks_weekly_in_groups(tmp_path: Path) -> None:
    config = load(bake(tmp_path) / ".github" / "dependabot.yml")
    updates = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(updates) == {"uv", "github-actions", "pre-commit"}
    for update in updates.values():
        assert update["directory"] == "/"
        assert update["schedule"] == {"interval": "weekly"}
        assert update["cooldown"]["default-days"] >= 3
        [group] = update["groups"].values()
        assert group["patterns"] == ["*"], "one pull request per ecosystem"


def test_renovate_updates_the_lock_ci_image_and_hooks_weekly_in_groups(tmp_path: Path) -> None:
    project = bake(tmp_path, ci="gitlab")
    config = json.loads((project / "renovate.json").read_text())
    assert {"config:recommended", "schedule:weekly", ":maintainLockFilesWeekly"} <= set(
        config["extends"]
    )
    managers = set(config["enabledManagers"])
    assert managers == {"pep621", "gitlabci", "pre-commit"}
    # Renovate leaves pre-commit alone unless it is switched on.
    assert config["pre-commit"] == {"enabled": True}
    grouped = {
        manager
        for rule in config["packageRules"]
        if "groupName" in rule
        for manager in rule["matchManagers"]
    }
    assert grouped == managers
    assert config["minimumReleaseAge"]
    assert not (bake(tmp_path / "github") / "renovate.json").exists()


# --- pre-commit ------------------------------------------------------------------------------


def test_pre_commit_pins_released_tags_and_wires_the_local_hooks(tmp_path: Path) -> None:
    project = bake(tmp_path)
    repos = load(project / ".pre-commit-config.yaml")["repos"]
    hook_ids = {hook["id"] for repo in repos for hook in repo["hooks"]}
    assert {
        "ruff-check",
        "ruff-format",
        "end-of-file-fixer",
        "trailing-whitespace",
        "check-yaml",
        "check-toml",
        "check-added-large-files",
        "check-merge-conflict",
        "migration-lint",
        "single-head",
    } <= hook_ids
    for repo in repos:
        if repo["repo"] != "local":
            assert RELEASED_REV.match(repo["rev"]), f"{repo['repo']} pinned to {repo['rev']}"
    hooks = {
        hook["id"]: hook for repo in repos if repo["repo"] == "local" for hook in repo["hooks"]
    }
    lint, heads = hooks["migration-lint"], hooks["single-head"]
    assert lint["entry"] == "python -m devtools lint-migrations --allow-unticked"
    assert lint.get("pass_filenames", True) is True
    assert re.search(lint["files"], MIGRATION_FILE)
    assert not re.search(lint["files"], "migrations/env.py")
    assert (project / MIGRATION_FILE).is_file()
    assert heads["entry"] == "python -m devtools check-heads"
    assert heads["pass_filenames"] is False


def test_nox_lists_the_sessions_ci_runs(tmp_path: Path) -> None:
    project = bake(tmp_path)
    listed = run([tool("nox"), "--list"], cwd=project).stdout
    for session in default_nox_sessions(project):
        assert re.search(rf"^\* {re.escape(session)} -> \S", listed, re.MULTILINE), listed
    # The audit and N-1 jobs' sessions: listed, not selected by a bare `nox`.
    assert re.search(r"^- audit -> \S", listed, re.MULTILINE), listed
    assert re.search(r"^- n-minus-one -> \S", listed, re.MULTILINE), listed


# --- docker ----------------------------------------------------------------------------------


def test_compose_runs_a_local_postgresql_and_migrates_only_on_request(tmp_path: Path) -> None:
    project = bake(tmp_path, docker="yes")
    services = load(project / "compose.yaml")["services"]
    db = services["db"]
    assert db["image"] == "postgres:17"
    assert db["environment"]["POSTGRES_DB"] == SLUG
    assert db["ports"] == ["127.0.0.1:${POSTGRES_PORT:-5432}:5432"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in load(project / "compose.yaml")["volumes"]
    # The database .env.example points at is the one compose creates.
    env_example = (project / ".env.example").read_text()
    assert f"DATABASE_URL={POSTGRES_URL.format(host='127.0.0.1')}\n" in env_example

    migrate, app = services["migrate"], services["app"]
    assert migrate["profiles"] == ["migrate"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    for service in (migrate, app):
        assert service["build"] == "."
        assert service["environment"]["DATABASE_URL"] == POSTGRES_URL.format(host="db")
        assert service["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "profiles" not in app and "command" not in app


def test_compose_with_mysql_runs_a_local_mariadb_in_utf8mb4_and_utc(tmp_path: Path) -> None:
    project = bake(tmp_path, database="mysql", docker="yes")
    compose = load(project / "compose.yaml")
    services = compose["services"]
    db = services["db"]
    # MYSQL_IMAGE=mysql:8.4 switches, as in CI; both images read the MYSQL_ names.
    assert db["image"] == "${MYSQL_IMAGE:-mariadb:11}"
    assert db["environment"] == {"MYSQL_DATABASE": SLUG, "MYSQL_ALLOW_EMPTY_PASSWORD": "yes"}
    assert db["command"] == [
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--default-time-zone=+00:00",
    ]
    assert db["ports"] == ["127.0.0.1:${MYSQL_PORT:-3306}:3306"]
    assert db["healthcheck"]["test"] == ["CMD-SHELL", MYSQL_HEALTH_COMMAND]
    assert db["volumes"] == ["db-data:/var/lib/mysql"]
    assert list(compose["volumes"]) == ["db-data"]
    # The database .env.example points at is the one compose creates.
    env_example = (project / ".env.example").read_text()
    assert f"DATABASE_URL={MYSQL_URL.format(host='127.0.0.1')}\n" in env_example

    migrate, app = services["migrate"], services["app"]
    assert migrate["profiles"] == ["migrate"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    for service in (migrate, app):
        assert service["build"] == "."
        assert service["environment"]["DATABASE_URL"] == MYSQL_URL.format(host="db")
        assert service["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "profiles" not in app and "command" not in app
    # aiomysql is pure Python: the image is the PostgreSQL bake's, byte for byte.
    postgresql = bake(tmp_path / "postgresql", docker="yes")
    assert (project / "Dockerfile").read_text() == (postgresql / "Dockerfile").read_text()
    assert (project / ".dockerignore").read_text() == (postgresql / ".dockerignore").read_text()


def test_compose_with_sqlite_keeps_the_database_file_on_a_volume(tmp_path: Path) -> None:
    project = bake(tmp_path, database="sqlite")
    compose = load(project / "compose.yaml")
    assert set(compose["services"]) == {"migrate", "app"}, "no database server for SQLite"
    assert list(compose["volumes"]) == ["db-data"]
    for service in compose["services"].values():
        assert service["build"] == "."
        assert service["volumes"] == ["db-data:/data"]
        assert service["environment"]["DATABASE_URL"] == f"sqlite+aiosqlite:////data/{SLUG}.db"
        assert "depends_on" not in service
    assert compose["services"]["migrate"]["command"] == ["alembic", "upgrade", "head"]
    # A new named volume takes the owner of the image's directory: the app's user must own it.
    dockerfile = (project / "Dockerfile").read_text()
    assert "RUN mkdir /data && chown 10001:10001 /data\n" in dockerfile
    assert "USER 10001:10001\n" in dockerfile
    assert "/data" not in bake(tmp_path / "postgresql").joinpath("Dockerfile").read_text()


@pytest.mark.parametrize("python_version", ["3.11", "3.13"])
def test_dockerfile_builds_a_slim_non_root_image_that_does_not_migrate(
    tmp_path: Path, python_version: str
) -> None:
    project = bake(tmp_path, docker="yes", python_version=python_version)
    instructions = [
        line.split(maxsplit=1)
        for line in (project / "Dockerfile").read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    ]
    by_name: dict[str, list[str]] = {}
    for name, argument in instructions:
        by_name.setdefault(name, []).append(argument)
    assert by_name["FROM"] == [f"python:{python_version}-slim"]
    assert by_name["USER"][-1].split(":")[0] not in {"root", "0"}
    assert instructions[-1][0] == "CMD" and "ENTRYPOINT" not in by_name
    command = json.loads(by_name["CMD"][0])
    assert command[:2] == ["uvicorn", f"{SLUG}.main:app"]
    assert "alembic" not in by_name["CMD"][0]
    copied = {argument.split()[0] for argument in by_name["COPY"]}
    assert {"alembic.ini", "migrations", "src"} <= copied
    assert not any("[dev]" in argument for argument in by_name["RUN"])
    assert any("uv sync --locked" in argument for argument in by_name["RUN"]), "install the lock"
    assert "uv.lock" in " ".join(by_name["COPY"])
    # pip compiles by default; stated, because the image runs with PYTHONDONTWRITEBYTECODE=1.
    ignored = (project / ".dockerignore").read_text().splitlines()
    assert {".env", ".venv/", ".git/"} <= set(ignored)


# --- the template's own tooling --------------------------------------------------------------


def test_template_compose_starts_the_databases_the_tests_expect() -> None:
    compose = TEMPLATE / "compose.yaml"
    check_schema("vendor.compose-spec", compose)
    services = load(compose)["services"]
    postgres, mariadb = services["postgres"], services["mariadb"]
    assert int(postgres["image"].removeprefix("postgres:")) >= 15
    assert postgres["environment"] == {"POSTGRES_HOST_AUTH_METHOD": "trust"}
    assert postgres["ports"] == ["127.0.0.1:5432:5432"]
    assert mariadb["image"] == "mariadb:10.11"
    assert mariadb["environment"] == {"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD": "1"}
    assert mariadb["ports"] == ["127.0.0.1:3306:3306"]
    for service in (postgres, mariadb):
        assert "healthcheck" in service, "`docker compose up -d --wait` waits on it"
    readme = (TEMPLATE / "README.md").read_text()
    assert "docker compose up -d --wait" in readme
    assert "docker compose up -d --wait" in START_DATABASES


def test_template_workflows_pass_schema_and_zizmor() -> None:
    assert TEMPLATE_WORKFLOWS, "the template has no .github/workflows/*.yml"
    check_schema("vendor.github-workflows", *TEMPLATE_WORKFLOWS)
    check_schema("custom.github-workflows-require-timeout", *TEMPLATE_WORKFLOWS)
    assert zizmor_findings(TEMPLATE, *TEMPLATE_WORKFLOWS) == []
    for workflow in map(load, TEMPLATE_WORKFLOWS):
        assert workflow["permissions"] == {"contents": "read"}
        assert "concurrency" in workflow


def test_template_workflow_runs_the_one_entry_point_with_postgresql_and_mariadb() -> None:
    (job,) = load(TEMPLATE / ".github" / "workflows" / "ci.yml")["jobs"].values()
    assert job["services"]["postgres"]["image"] == "postgres:17"
    mariadb = job["services"]["mariadb"]
    # What `.ci/run` requires: the oldest supported MariaDB, as compose.yaml starts it.
    assert mariadb["image"] == load(TEMPLATE / "compose.yaml")["services"]["mariadb"]["image"]
    assert mariadb["env"] == {"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD": "1"}
    assert mariadb["ports"] == ["3306:3306"]
    assert '--health-cmd "healthcheck.sh --connect --innodb_initialized"' in mariadb["options"]
    assert [step["run"] for step in job["steps"] if "run" in step] == ["bash .ci/run"]


def test_template_pre_commit_config_is_valid_and_skips_the_jinja_directory() -> None:
    run([tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"], cwd=TEMPLATE)
    config = load(TEMPLATE / ".pre-commit-config.yaml")
    assert re.match(config["exclude"], "{{cookiecutter.project_slug}}/noxfile.py")
    assert not re.match(config["exclude"], "tests/conftest.py")
