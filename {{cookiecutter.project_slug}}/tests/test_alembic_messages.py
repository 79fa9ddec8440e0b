"""The Alembic failures of everyday work end with one line that says what to do."""

from pathlib import Path

from sqlalchemy import text

from tests.databases import on_connection
from tests.fixtures.scratch_migrations import ScratchMigrations, alembic_environment, run


def failed_line(migrations: ScratchMigrations, database_url: str, *arguments: str) -> str:
    result = run(migrations.command(*arguments), alembic_environment(database_url))
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    # Alembic prints the failure on stdout and logs it again on stderr.
    [line] = [line for line in result.stdout.splitlines() if line.startswith("FAILED: ")]
    return line


def test_autogenerate_on_a_database_that_is_behind(tmp_path: Path, database_url: str) -> None:
    migrations = ScratchMigrations(tmp_path)

    line = failed_line(migrations, database_url, "revision", "--autogenerate", "-m", "x")

    assert "the database is behind the migrations" in line
    assert "run `alembic upgrade head` first" in line
    assert list(migrations.versions.glob("*_x.py")) == []


def test_a_database_at_a_revision_from_another_branch(tmp_path: Path, database_url: str) -> None:
    migrations = ScratchMigrations(tmp_path)
    migrations.add("b4a2c0000001", upgrade="pass")
    migrations.migrate(database_url, "head")
    (migrations.versions / "b4a2c0000001_test.py").unlink()  # as after `git switch main`

    line = failed_line(migrations, database_url, "upgrade", "head")

    assert "Can't locate revision identified by 'b4a2c0000001'" in line
    assert "the database is at a revision these migrations do not have" in line
    assert "alembic downgrade" in line


TWO_HEADS = ("4ead0000000a", "4ead0000000b")


def with_two_heads(tmp_path: Path) -> ScratchMigrations:
    """Two revisions on the same parent, as after merging two branches that each added one."""
    migrations = ScratchMigrations(tmp_path)
    for head in TWO_HEADS:
        migrations.write(head, migrations.head, "pass", "pass")
    return migrations


def test_several_heads(tmp_path: Path, database_url: str) -> None:
    migrations = with_two_heads(tmp_path)

    line = failed_line(migrations, database_url, "upgrade", "head")

    assert "several heads (4ead0000000a, 4ead0000000b)" in line
    assert "alembic merge heads" in line


def test_downgrade_by_one_at_a_merge_point(tmp_path: Path, database_url: str) -> None:
    migrations = with_two_heads(tmp_path)
    migrations.write("3e26e0000001", TWO_HEADS, "pass", "pass")
    upgraded = run(migrations.command("upgrade", "head"), alembic_environment(database_url))
    assert upgraded.returncode == 0, upgraded.stderr

    line = failed_line(migrations, database_url, "downgrade", "-1")

    assert "ambiguous at a merge point" in line
    assert "alembic downgrade <revision>" in line
    version = on_connection(
        database_url, lambda c: c.scalar(text("SELECT version_num FROM alembic_version"))
    )
    assert version == "3e26e0000001"
