"""The linter's rules, acknowledgements, exit codes and history checks; no database needed."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.devtools.conftest import FINDING, FIXTURES, Lint, copy_fixture, write_revision

# fixture -> the (line, rule) findings it must produce
BAD = {
    "ml000_bad": [(27, "ML000"), (27, "ML002")],
    "ml001_bad": [(30, "ML001")],
    "ml001_bad_not_implemented": [(30, "ML001")],
    # upgrade_<scope>/downgrade_<scope> pairs, as schema-per-tenant projects write them
    "ml001_bad_scoped": [(42, "ML002"), (45, "ML001")],
    "ml002_bad": [(28, "ML002"), (29, "ML002")],
    "ml003_bad": [(26, "ML003"), (27, "ML003")],
    "ml003_bad_concurrently": [(27, "ML003")],
    "ml004_bad": [(26, "ML004")],
    "ml005_bad": [(28, "ML005")],
    # the downgrade of a post-deploy drop meets the rows too
    "ml005_bad_downgrade": [(32, "ML005")],
    "ml006_bad": [(27, "ML006"), (33, "ML006")],
    "ml007_bad": [(26, "ML007")],
    "ml008_bad": [(28, "ML008")],
    "ml009_bad": [(27, "ML009")],
    "ml010_bad": [(27, "ML010"), (28, "ML010"), (29, "ML010")],
    "ml011_bad": [(26, "ML011")],
    "ml012_bad": [(26, "ML012")],
    "ml013_bad": [(8, "ML013")],
    "ml013_bad_no_checklist": [(1, "ML013")],
    "ml013_bad_why": [(3, "ML013")],
    "ml016_bad": [(28, "ML016"), (29, "ML016"), (30, "ML016")],
    "ml017_bad": [(29, "ML017"), (38, "ML017")],
}
GOOD = sorted(path.stem for path in FIXTURES.glob("*_good*.py"))


def test_every_rule_has_a_failing_and_a_passing_fixture() -> None:
    rules = {f"ml{n:03d}" for n in (*range(14), 16, 17)}
    assert {name[:5] for name in BAD} == rules
    assert {name[:5] for name in GOOD} == rules - {"ml000"}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_fixture_is_reported(lint: Lint, name: str) -> None:
    code, found, out = lint("lint-migrations", FIXTURES / f"{name}.py")
    assert code == 1, out
    assert sorted((line, rule) for _, line, rule in found) == BAD[name], out
    findings = [line for line in out.splitlines() if FINDING.match(line)]
    assert len(findings) == len(found) and all(line.endswith(")") for line in findings), out


@pytest.mark.parametrize("name", GOOD)
def test_good_fixture_is_clean(lint: Lint, name: str) -> None:
    code, found, out = lint("lint-migrations", FIXTURES / f"{name}.py")
    assert (code, found) == (0, []), out


def test_a_drop_in_a_pre_deploy_revision_says_where_it_belongs(lint: Lint) -> None:
    code, _, out = lint("lint-migrations", FIXTURES / "ml002_bad.py")
    assert code == 1
    assert "drops column books.pages and its data in a pre-deploy revision" in out
    assert 'move it to a post-deploy revision (phase = "post-deploy")' in out


def test_a_revision_without_a_phase_is_pre_deploy(lint: Lint, tmp_path: Path) -> None:
    path = copy_fixture("ml002_good_post_deploy", tmp_path)
    path.write_text(path.read_text().replace('phase = "post-deploy"\n', ""))
    code, found, out = lint("lint-migrations", path)
    assert code == 1
    assert sorted(rule for *_, rule in found) == ["ML002", "ML002", "ML003", "ML003"], out


def test_allow_unticked_relaxes_only_the_checklist(lint: Lint) -> None:
    unticked = FIXTURES / "ml013_bad.py"
    assert lint("lint-migrations", "--allow-unticked", unticked)[0] == 0
    code, found, _ = lint("lint-migrations", "--allow-unticked", FIXTURES / "ml002_bad.py")
    assert code == 1
    assert {rule for *_, rule in found} == {"ML002"}


def test_acknowledgement_with_reason_silences_only_its_rule(lint: Lint, tmp_path: Path) -> None:
    path = copy_fixture("ml010_bad", tmp_path)
    lines = path.read_text().splitlines()
    lines.insert(26, "    # migration-lint: ignore[ML010] the column is read through a view")
    path.write_text("\n".join(lines) + "\n")
    code, found, out = lint("lint-migrations", path)
    assert code == 1
    assert [line for _, line, _ in found] == [29, 30], out


def test_acknowledgement_without_reason_is_a_finding(lint: Lint) -> None:
    code, found, out = lint("lint-migrations", FIXTURES / "ml000_bad.py")
    assert code == 1
    assert ("ml000_bad.py", 27, "ML000") in found
    assert "gives no reason" in out


def test_directory_argument_lints_every_revision(lint: Lint, tmp_path: Path) -> None:
    for name in ("ml001_good", "ml007_bad"):
        copy_fixture(name, tmp_path)
    code, found, _ = lint("lint-migrations", tmp_path)
    assert (code, found) == (1, [("ml007_bad.py", 26, "ML007")])


@pytest.mark.parametrize(
    ("content", "reason"),
    [("def upgrade(:\n", "SyntaxError"), (b"\xff\xfe not utf-8", "UnicodeDecodeError")],
)
def test_unparseable_file_exits_2_without_traceback(
    lint: Lint, tmp_path: Path, content: str | bytes, reason: str
) -> None:
    broken = tmp_path / "broken.py"
    if isinstance(content, bytes):
        broken.write_bytes(content)
    else:
        broken.write_text(content)
    good = copy_fixture("ml001_good", tmp_path)
    code, found, out = lint("lint-migrations", broken, good)
    assert code == 2
    assert out.startswith(f"{broken}: cannot parse ({reason}")
    assert found == []


def test_missing_file_exits_2(lint: Lint, tmp_path: Path) -> None:
    code, _, out = lint("lint-migrations", tmp_path / "nope.py")
    assert code == 2
    assert "nope.py: cannot parse (FileNotFoundError" in out


def test_no_versions_directory_is_a_usage_error(lint: Lint) -> None:
    code, _, out = lint("lint-migrations")
    assert code == 2
    assert "run it from the project root" in out


def test_unknown_option_is_a_usage_error(lint: Lint) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lint("lint-migrations", "--no-such-option")
    assert exit_info.value.code == 2


def test_several_heads_are_reported(lint: Lint, project: Path) -> None:
    versions = project / "migrations" / "versions"
    write_revision(versions, "aaa", None)
    write_revision(versions, "bbb", "aaa")
    write_revision(versions, "ccc", "aaa")
    code, found, out = lint("lint-migrations"{{ ', "--no-squawk"' if cookiecutter.database == "postgresql" }})
    assert code == 1
    assert sorted(found) == [("bbb.py", 1, "ML014"), ("ccc.py", 1, "ML014")], out
    code, _, out = lint("check-heads")
    assert code == 1
    assert "2 head revisions" in out and "alembic merge heads" in out


def test_merged_heads_are_clean(lint: Lint, project: Path) -> None:
    versions = project / "migrations" / "versions"
    write_revision(versions, "aaa", None)
    write_revision(versions, "bbb", "aaa")
    write_revision(versions, "ccc", "aaa")
    merge = write_revision(versions, "ddd", None)
    merge.write_text(
        merge.read_text().replace("down_revision = None", 'down_revision = ("bbb", "ccc")')
    )
    assert lint("lint-migrations"{{ ', "--no-squawk"' if cookiecutter.database == "postgresql" }})[:2] == (0, [])
    code, _, out = lint("check-heads")
    assert (code, out.strip()) == (0, "check-heads: one head (ddd)")


@pytest.fixture
def repository(project: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=project,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    write_revision(project / "migrations" / "versions", "aaa", None)
    git("add", ".")
    git("commit", "-q", "-m", "first revision")
    return project


def test_base_reports_a_merged_revision_that_changed(lint: Lint, repository: Path) -> None:
    merged = repository / "migrations" / "versions" / "aaa.py"
    merged.write_text(merged.read_text().replace("SELECT 1", "SELECT 3"))
    code, found, out = lint("lint-migrations", "--base", "main")
    assert code == 1
    assert found == [("aaa.py", 1, "ML015")], out
    assert "git checkout main -- " in out


def test_base_ignores_new_revisions_and_comment_or_checklist_edits(
    lint: Lint, repository: Path
) -> None:
    versions = repository / "migrations" / "versions"
    merged = versions / "aaa.py"
    text = merged.read_text().replace("- [x] Reviewed", "- [x] Reviewed again")
    merged.write_text(text.replace("def downgrade", "# a comment\ndef downgrade"))
    write_revision(versions, "bbb", "aaa")
    assert lint("lint-migrations"{{ ', "--no-squawk"' if cookiecutter.database == "postgresql" }}, "--base", "main")[:2] == (0, [])


def test_base_that_does_not_exist_exits_2(lint: Lint, repository: Path) -> None:
    code, _, out = lint("lint-migrations", "--base", "origin/nope")
    assert code == 2
    assert out.strip().count("\n") == 0
    assert "--base origin/nope: not a commit or ref" in out and "git fetch origin nope" in out


def test_base_without_git_exits_2(
    lint: Lint, repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(repository))
    code, _, out = lint("lint-migrations", "--base", "main")
    assert code == 2
    assert "--base needs git" in out
