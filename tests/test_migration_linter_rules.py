"""The migration linter's rules, as small inline revisions: each line marked `# expect: RULE`
must get that finding, and no other line any. The linter comes from a bake, imported here (a
default one; a mysql one for MySQL's rules); it reads files with `ast` and needs no database
(squawk's part: test_migration_linter.py)."""

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import bake

HEADER = '''"""A case.

Review checklist (tick each box with [x] before merging):
- [x] Reviewed
"""

import sqlalchemy as sa
from alembic import op

revision = "aaaa00000002"
down_revision = "aaaa00000001"
'''
DOWNGRADE = """

def downgrade() -> None:
    op.execute("SELECT 1")
"""
EXPECT = re.compile(r"\s*# expect: ([\w:, -]+)$")


def load_linter(project: Path) -> dict[str, Any]:
    """The linter's modules from a bake. Imported modules keep working once sys.modules has
    forgotten them, so the bakes of two databases can be loaded one after the other."""
    sys.path.insert(0, str(project))
    try:
        import devtools.migration_lint.lint as lint
        import devtools.migration_lint.registry as registry

        return {"lint": lint, "registry": registry, "project": project}
    finally:
        sys.path.remove(str(project))
        for name in [m for m in sys.modules if m == "devtools" or m.startswith("devtools.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def linter(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The linter of a default (PostgreSQL) bake."""
    return load_linter(bake(tmp_path_factory.mktemp("bake")))


@pytest.fixture(scope="module")
def mysql_linter(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The linter of a MySQL bake: its own rules, and MySQL's form of some of the others."""
    return load_linter(bake(tmp_path_factory.mktemp("mysql"), database="mysql"))


def write_case(directory: Path, body: str, phase: str = "pre-deploy") -> tuple[Path, set[Any]]:
    """The revision file of a case and the (line, rule) findings its markers expect."""
    body = textwrap.dedent(body).strip("\n")
    source = HEADER + ("" if re.search(r"^phase =", body, re.M) else f'phase = "{phase}"\n')
    source += "\n\n" + body + "\n"
    if "def downgrade" not in body:
        source += DOWNGRADE
    expected, lines = set(), []
    for number, line in enumerate(source.splitlines(), start=1):
        if match := EXPECT.search(line):
            expected |= {(number, rule.strip()) for rule in match.group(1).split(",")}
            line = line[: match.start()]
        lines.append(line)
    path = directory / "case.py"
    path.write_text("\n".join(lines) + "\n")
    return path, expected


def lint_case(
    linter: dict[str, Any], tmp_path: Path, body: str, **options: Any
) -> tuple[set[Any], set[Any], list[Any]]:
    path, expected = write_case(tmp_path, body, options.pop("phase", "pre-deploy"))
    result = linter["lint"].lint_revisions([path], alembic_ini=tmp_path / "alembic.ini", **options)
    assert result.unreadable == []
    found = {(finding.line, finding.rule) for finding in result.open}
    return found, expected, result.findings


CASES = {
    # ML000: acknowledgements
    "reasonless acknowledgement": """
        def upgrade() -> None:
            # migration-lint: ignore[ML002]  # expect: ML000
            op.drop_column("books", "pages")  # expect: ML002
        """,
    "acknowledgement that matches nothing": """
        def upgrade() -> None:
            # migration-lint: ignore[ML007] no update here  # expect: ML000
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))
        """,
    "acknowledgement one line off": """
        def upgrade() -> None:
            # migration-lint: ignore[ML002] pages unused since 4.2  # expect: ML000
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))
            op.drop_column("books", "pages")  # expect: ML002
        """,
    "acknowledgement of a misspelt rule": """
        def upgrade() -> None:
            # migration-lint: ignore[ML02] pages unused  # expect: ML000
            op.drop_column("books", "pages")  # expect: ML002
        """,
    "acknowledgement of a rule in lower case": """
        def upgrade() -> None:
            # migration-lint: ignore[ml002] pages unused  # expect: ML000
            op.drop_column("books", "pages")  # expect: ML002
        """,
    "acknowledgement continued over two comment lines": """
        def upgrade() -> None:
            # migration-lint: ignore[ML002] pages unused since 4.2;
            # backed up in the 2026-11 snapshot
            op.drop_column("books", "pages")
        """,
    "acknowledgement at the end of the line": """
        def upgrade() -> None:
            op.drop_column("books", "pages")  # migration-lint: ignore[ML002] unused since 4.2
        """,
    # ML001
    "missing downgrade": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))


        def downgrade() -> None:  # expect: ML001
            pass
        """,
    "downgrade raising NotImplementedError": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))


        def downgrade() -> None:  # expect: ML001
            raise NotImplementedError
        """,
    "scoped revision without its downgrade": """
        def upgrade_tenant() -> None:  # expect: ML001
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))


        def downgrade() -> None:
            pass
        """,
    "only validating needs no downgrade": """
        def upgrade() -> None:
            op.validate_constraint("fk_books_author_id_authors", "books")


        def downgrade() -> None:
            pass
        """,
    # ML002: the same drop written every way
    "op.drop_column in a pre-deploy revision": """
        def upgrade() -> None:
            op.drop_column("books", "pages")  # expect: ML002
            op.drop_table("loans")  # expect: ML002
        """,
    "batch_op.drop_column": """
        def upgrade() -> None:
            with op.batch_alter_table("books") as batch_op:
                batch_op.drop_column("pages")  # expect: ML002
        """,
    "raw DROP COLUMN in op.execute, sa.text, a constant and a helper": """
        DROP_PAGES = "ALTER TABLE books DROP pages"


        def run(statement: str) -> None:
            op.get_bind().execute(sa.text(statement))


        def upgrade() -> None:
            op.execute("ALTER TABLE books DROP COLUMN pages")  # expect: ML002
            op.execute(sa.text("DROP TABLE IF EXISTS loans"))  # expect: ML002
            op.execute(DROP_PAGES)  # expect: ML002
            run("ALTER TABLE books DROP COLUMN IF EXISTS isbn")  # expect: ML002
        """,
    "dropping a default or NOT NULL drops no data": """
        def upgrade() -> None:
            op.execute("ALTER TABLE books ALTER COLUMN pages DROP DEFAULT")
            op.execute("ALTER TABLE books ALTER COLUMN pages DROP NOT NULL")
        """,
    "drops in a post-deploy revision": """
        phase = "post-deploy"


        def upgrade() -> None:
            op.drop_column("books", "pages")
            op.drop_index("ix_books_title", table_name="books")
            op.execute("ALTER TABLE books DROP COLUMN isbn")
        """,
    # ML003
    "index and constraint dropped, not recreated": """
        def upgrade() -> None:
            op.drop_index("ix_books_title", table_name="books")  # expect: ML003
            op.drop_constraint("uq_books_isbn", "books", type_="unique")  # expect: ML003
            op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_books_year")  # expect: ML003, ML012
            op.execute("ALTER TABLE books DROP CONSTRAINT ck_books_pages")  # expect: ML003
        """,
    "index dropped and recreated": """
        def upgrade() -> None:
            op.drop_index("ix_books_title", table_name="books")
            op.create_index("ix_books_title", "books", ["title", "year"])
            op.execute("DROP INDEX ix_books_year")
            op.execute("CREATE INDEX ix_books_year ON books (year, title)")
        """,
    # ML004
    "CASCADE": """
        def upgrade() -> None:
            op.execute("DROP VIEW book_counts CASCADE")  # expect: ML004
        """,
    # ML005
    "NOT NULL column without a default, three ways": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.Text(), nullable=False))  # expect: ML005
            with op.batch_alter_table("books") as batch_op:
                batch_op.add_column(sa.Column("year", sa.Text(), nullable=False))  # expect: ML005
            op.execute("ALTER TABLE books ADD COLUMN pages integer NOT NULL")  # expect: ML005
        """,
    "NOT NULL column with a default, or on a new table": """
        def upgrade() -> None:
            op.add_column(
                "books", sa.Column("year", sa.Integer(), nullable=False, server_default="0")
            )
            op.execute("ALTER TABLE books ADD COLUMN pages integer NOT NULL DEFAULT 0")
            op.create_table("loans", sa.Column("id", sa.Integer(), primary_key=True))
            op.add_column("loans", sa.Column("due", sa.Date(), nullable=False))
        """,
    "a downgrade that brings back a NOT NULL column": """
        phase = "post-deploy"


        def upgrade() -> None:
            op.drop_column("books", "isbn")


        def downgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.Text(), nullable=False))  # expect: ML005
        """,
    # ML006
    "foreign key without an index": """
        def upgrade() -> None:
            op.add_column(  # expect: ML006
                "books", sa.Column("editor_id", sa.Integer(), sa.ForeignKey("authors.id"))
            )
            op.create_foreign_key_not_valid(  # expect: ML006
                "fk_books_series_id_series", "books", "series", ["series_id"], ["id"]
            )
        """,
    "foreign keys with their indexes": """
        def upgrade() -> None:
            op.add_column(
                "books",
                sa.Column("editor_id", sa.Integer(), sa.ForeignKey("authors.id"), index=True),
            )
            op.create_foreign_key_not_valid(
                "fk_books_series_id_series", "books", "series", ["series_id"], ["id"]
            )
            op.create_index_concurrently("ix_books_series_id", "books", ["series_id"])
        """,
    # ML007
    "UPDATE without WHERE": """
        def upgrade() -> None:
            op.execute("UPDATE books SET pages = 0")  # expect: ML007
            op.execute("UPDATE books SET pages = 0 WHERE pages IS NULL")
        """,
    # ML008
    "data change beside a schema change": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))
            op.execute("UPDATE books SET isbn = '' WHERE isbn IS NULL")  # expect: ML008
        """,
    "the backfill of set_not_null": """
        phase = "post-deploy"


        def upgrade() -> None:
            op.execute("UPDATE books SET isbn = '' WHERE isbn IS NULL")
            op.set_not_null("books", "isbn")
        """,
    # ML009
    "a plain string to connection.execute": """
        def upgrade() -> None:
            op.get_bind().execute("SELECT 1")  # expect: ML009
        """,
    # ML010
    "renames and a rewriting type change": """
        def upgrade() -> None:
            op.alter_column("books", "title", new_column_name="name")  # expect: ML010
            op.rename_table("books", "volumes")  # expect: ML010
            op.alter_column(  # expect: ML010
                "books", "pages", type_=sa.String(10), existing_type=sa.Integer()
            )
            op.alter_column("books", "isbn", type_=sa.String(10))  # expect: ML010
            op.alter_column(  # expect: ML010
                "books", "code", type_=sa.String(10), existing_type=sa.String(20)
            )
            op.execute("ALTER TABLE books RENAME COLUMN isbn TO code")  # expect: ML010
        """,
    "type changes without a rewrite": """
        def upgrade() -> None:
            op.alter_column("books", "title", type_=sa.String(500), existing_type=sa.String(200))
            op.alter_column("books", "isbn", type_=sa.Text(), existing_type=sa.String(20))
            op.alter_column("books", "note", type_=sa.String(), existing_type=sa.Text())
            op.alter_column(
                "books", "price", type_=sa.Numeric(12, 2), existing_type=sa.Numeric(10, 2)
            )
            op.alter_column(
                "books",
                "added_at",
                type_=sa.DateTime(timezone=True),
                existing_type=sa.DateTime(),
            )
            with op.batch_alter_table("books") as batch_op:
                batch_op.alter_column("code", type_=sa.String(40), existing_type=sa.String(20))
        """,
    # ML011
    "two statements in one call": """
        def upgrade() -> None:
            op.execute("CREATE VIEW a AS SELECT 1; CREATE VIEW b AS SELECT 2")  # expect: ML011
        """,
    # ML012
    "CONCURRENTLY in the revision's transaction": """
        def upgrade() -> None:
            op.create_index(  # expect: ML012
                "ix_books_title", "books", ["title"], postgresql_concurrently=True
            )
        """,
    "the recipes of docs/migrations.md": """
        def upgrade() -> None:
            op.add_column(
                "orders", sa.Column("reference", sa.String(length=40), nullable=True)
            )
            op.add_column("orders", sa.Column("replaces_id", sa.Integer(), nullable=True))
            op.create_foreign_key_not_valid(
                op.f("fk_orders_replaces_id_orders"), "orders", "orders", ["replaces_id"], ["id"]
            )
            op.create_index_concurrently(op.f("ix_orders_replaces_id"), "orders", ["replaces_id"])
            op.create_unique_constraint_concurrently(
                op.f("uq_orders_reference"), "orders", ["reference"]
            )
            op.validate_constraint(op.f("fk_orders_replaces_id_orders"), "orders")
            with op.get_context().autocommit_block():
                op.create_index(
                    "ix_orders_email", "orders", ["email"], postgresql_concurrently=True
                )
        """,
    # ML016
    "NOT NULL before the rollout": """
        def upgrade() -> None:
            op.set_not_null("books", "isbn")  # expect: ML016
            op.alter_column("books", "title", nullable=False)  # expect: ML016
            op.execute("ALTER TABLE books ALTER COLUMN year SET NOT NULL")  # expect: ML016
        """,
    "NOT NULL after the rollout": """
        phase = "post-deploy"


        def upgrade() -> None:
            op.set_not_null("books", "isbn")
        """,
    # ML017
    "a TODO(backfill) left": """
        phase = "post-deploy"


        def upgrade() -> None:
            # TODO(backfill): books.isbn is NULL in existing rows  # expect: ML017
            op.set_not_null("books", "isbn")
        """,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(linter: dict[str, Any], tmp_path: Path, name: str) -> None:
    found, expected, findings = lint_case(linter, tmp_path, CASES[name])
    assert found == expected, "\n".join(map(str, findings))


def test_every_rule_has_a_case_that_reports_it(linter: dict[str, Any]) -> None:
    expected = set(re.findall(r"# expect: ([\w:, -]+)", "\n".join(CASES.values())))
    rules = {rule.strip() for group in expected for rule in group.split(",")}
    # ML013, ML014 and ML015 read the docstring, the history and git: tested below.
    assert set(linter["registry"].RULES) - {"ML013", "ML014", "ML015"} <= rules


def test_docs_table_is_the_registry(linter: dict[str, Any]) -> None:
    docs = (linter["project"] / "docs" / "migration-linter.md").read_text()
    assert linter["registry"].markdown_table() in docs


def test_acknowledged_findings_carry_their_reason(linter: dict[str, Any], tmp_path: Path) -> None:
    body = CASES["acknowledgement continued over two comment lines"]
    found, _, findings = lint_case(linter, tmp_path, body)
    assert found == set()
    [finding] = findings
    assert (finding.rule, finding.acknowledged) == ("ML002", True)
    assert finding.reason == "pages unused since 4.2; backed up in the 2026-11 snapshot"


def test_misplaced_acknowledgement_says_where_it_goes(
    linter: dict[str, Any], tmp_path: Path
) -> None:
    _, _, findings = lint_case(linter, tmp_path, CASES["acknowledgement one line off"])
    [misplaced] = [f for f in findings if f.rule == "ML000"]
    assert "the finding is on line 18" in misplaced.problem
    assert "move it onto the line above line 18" in misplaced.fix


def test_names_only_known_at_run_time_are_never_none(
    linter: dict[str, Any], tmp_path: Path
) -> None:
    body = """
        def drop(table: str, column: str) -> None:
            op.drop_column(table, column)
            op.drop_index(column, table_name=table)


        def upgrade() -> None:
            drop("books", "pages")
        """
    _, _, findings = lint_case(linter, tmp_path, body)
    assert {f.rule for f in findings} == {"ML002", "ML003"}
    assert all("None" not in f.problem + f.fix for f in findings), findings
    assert any("<a table named at run time>" in f.problem for f in findings)


def test_foreign_key_fix_keeps_alembic_check_passing(
    linter: dict[str, Any], tmp_path: Path
) -> None:
    _, _, findings = lint_case(linter, tmp_path, CASES["foreign key without an index"])
    assert findings and all("index=True" in f.fix for f in findings)
    assert not any("op.create_index" in f.fix for f in findings)


def test_constant_default_advice_follows_the_target_version(
    linter: dict[str, Any], tmp_path: Path
) -> None:
    body = CASES["NOT NULL column without a default, three ways"]
    _, _, findings = lint_case(linter, tmp_path, body)
    assert all("give it a constant server_default" in f.fix for f in findings)
    (tmp_path / ".squawk.toml").write_text('pg_version = "10.0"\n')
    _, _, findings = lint_case(linter, tmp_path, body)
    assert all("rewrites the table" in f.fix and "10" in f.fix for f in findings)


def test_timestamptz_rewrites_before_postgresql_12(linter: dict[str, Any], tmp_path: Path) -> None:
    body = """
        def upgrade() -> None:
            op.alter_column(  # expect: ML010
                "books",
                "added_at",
                type_=sa.DateTime(timezone=True),
                existing_type=sa.DateTime(),
            )
        """
    (tmp_path / ".squawk.toml").write_text('pg_version = "11.0"\n')
    found, expected, _ = lint_case(linter, tmp_path, body)
    assert found == expected


def test_merge_revision_needs_no_why_or_checklist(linter: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "merge.py"
    path.write_text(
        '"""merge heads\n\nRevision ID: cc\nRevises: aa, bb\n"""\n\n'
        'revision = "cc"\ndown_revision = ("aa", "bb")\n\n\n'
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    result = linter["lint"].lint_revisions([path], alembic_ini=tmp_path / "alembic.ini")
    assert result.findings == []
    path.write_text(path.read_text().replace('("aa", "bb")', '"aa"'))
    result = linter["lint"].lint_revisions([path], alembic_ini=tmp_path / "alembic.ini")
    assert {f.rule for f in result.findings} == {"ML013"}


@pytest.mark.parametrize(
    ("docstring", "line", "problem"),
    [
        ("Review checklist:\n- [ ] Reviewed\n", 4, "1 review checklist box(es) unticked"),
        (
            "Why: <one or two sentences>\nReview checklist:\n- [x] Reviewed\n",
            3,
            "Why line still holds the template's placeholder",
        ),
        ("", 1, "has no review checklist"),
    ],
)
def test_checklist(
    linter: dict[str, Any], tmp_path: Path, docstring: str, line: int, problem: str
) -> None:
    path = tmp_path / "revision.py"
    source = HEADER.replace("Review checklist (tick each box with [x] before merging):\n", "")
    source = source.replace("- [x] Reviewed\n", docstring)
    path.write_text(source + "\n\ndef upgrade() -> None:\n    pass\n")
    result = linter["lint"].lint_revisions([path], alembic_ini=tmp_path / "alembic.ini")
    assert [(f.line, f.rule) for f in result.findings] == [(line, "ML013")]
    assert problem in result.findings[0].problem
    unticked = linter["lint"].lint_revisions(
        [path], alembic_ini=tmp_path / "alembic.ini", allow_unticked=True
    )
    assert unticked.findings == []


# MySQL's bake: ML101-ML109, and MySQL's form of ML005, ML010 and ML016.
MYSQL_CASES = {
    # ML101: one DDL statement per revision
    "two changes to an existing table": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))
            op.create_index("ix_books_title", "books", ["title"])  # expect: ML101
        """,
    "a new column with its index and unique constraint": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))
            op.create_unique_constraint("uq_books_isbn", "books", ["isbn"])
            op.create_index("ix_books_isbn", "books", ["isbn"])
        """,
    "an index over a new column and an old one is a change": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))
            op.create_index("ix_books_isbn_title", "books", ["isbn", "title"])  # expect: ML101
        """,
    "a column with its foreign key is new objects": """
        def upgrade() -> None:
            op.add_column(  # expect: ML104
                "books",
                sa.Column("editor_id", sa.Integer(), sa.ForeignKey("authors.id"), nullable=True),
            )
        """,
    "raw DDL counts as a statement": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))
            op.execute("CREATE VIEW long_books AS SELECT * FROM books")  # expect: ML101
        """,
    "a new table beside a change to an existing one": """
        def upgrade() -> None:
            op.create_table("series", sa.Column("id", sa.Integer(), primary_key=True))
            op.create_index("ix_books_title", "books", ["title"])  # expect: ML101
        """,
    "new tables with their indexes and keys": """
        def upgrade() -> None:
            op.create_table("series", sa.Column("id", sa.Integer(), primary_key=True))
            op.create_table(
                "volumes",
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("series_id", sa.Integer(), nullable=False),
                sa.Column("number", sa.Integer(), nullable=False),
            )
            op.create_index("ix_volumes_series_id", "volumes", ["series_id"])
            op.create_foreign_key(
                "fk_volumes_series_id_series", "volumes", "series", ["series_id"], ["id"]
            )
            op.create_unique_constraint("uq_volumes_number", "volumes", ["series_id", "number"])
            op.create_check_constraint("ck_volumes_number", "volumes", "number > 0")
        """,
    "a backfill and its NOT NULL step are one DDL statement": """
        phase = "post-deploy"


        def upgrade() -> None:
            op.execute("UPDATE books SET isbn = '' WHERE isbn IS NULL")
            op.alter_column("books", "isbn", existing_type=sa.String(20), nullable=False)
        """,
    "downgrade is not held to one statement": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))


        def downgrade() -> None:
            op.drop_index("ix_books_isbn", table_name="books")
            op.drop_column("books", "isbn")
        """,
    "one raw ALTER TABLE with several changes": """
        def upgrade() -> None:
            op.execute(
                "ALTER TABLE books ADD COLUMN isbn VARCHAR(20) NULL, "
                "ADD INDEX ix_books_isbn (isbn), ALGORITHM=INPLACE, LOCK=NONE"
            )
        """,
    # ML102: type changes
    "type changes that copy the table": """
        def upgrade() -> None:
            op.alter_column(  # expect: ML102
                "books", "pages", type_=sa.BigInteger(), existing_type=sa.Integer(),
                existing_nullable=False,
            )
            op.alter_column(  # expect: ML101, ML102
                "books", "code", type_=sa.String(64), existing_type=sa.String(63),
                existing_nullable=True,
            )
            op.alter_column(  # expect: ML102
                "books", "title", type_=sa.String(100), existing_type=sa.String(300),
                existing_nullable=False,
            )
            op.alter_column(  # expect: ML102
                "books", "state", type_=sa.Enum("b", "a", name="state"),
                existing_type=sa.Enum("a", "b", name="state"), existing_nullable=True,
            )
            op.alter_column(  # expect: ML102
                "books", "isbn", type_=sa.String(30), existing_nullable=True
            )
        """,
    "a new table's column type": """
        def upgrade() -> None:
            op.create_table("series", sa.Column("id", sa.Integer(), primary_key=True))
            with op.batch_alter_table("series") as batch_op:
                batch_op.alter_column(  # expect: ML101
                    "id", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False
                )
        """,
    # ML103
    "a primary key added to an existing table": """
        def upgrade() -> None:
            op.create_primary_key("pk_loans", "loans", ["id"])  # expect: ML103
        """,
    "a primary key dropped": """
        phase = "post-deploy"


        def upgrade() -> None:
            op.drop_constraint("pk_loans", "loans", type_="primary")  # expect: ML103
        """,
    # ML104
    "a foreign key added to an existing table": """
        def upgrade() -> None:
            op.create_foreign_key(  # expect: ML104
                "fk_books_editor_id_authors", "books", "authors", ["editor_id"], ["id"]
            )
        """,
    "a foreign key added in place, its rows checked beforehand": """
        def upgrade() -> None:
            op.execute("SET foreign_key_checks = 0")
            op.create_foreign_key(
                "fk_books_editor_id_authors", "books", "authors", ["editor_id"], ["id"]
            )
            op.execute("SET foreign_key_checks = 1")
        """,
    "PostgreSQL's rules do not apply": """
        def upgrade() -> None:
            op.create_table(
                "loans",
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
            )
            op.create_index("ix_loans_id", "loans", ["id"], postgresql_concurrently=True)
        """,
    # ML105
    "FULLTEXT and SPATIAL indexes on existing tables": """
        def upgrade() -> None:
            op.create_index(  # expect: ML105
                "ft_books_title", "books", ["title"], mysql_prefix="FULLTEXT"
            )
            op.execute(  # expect: ML101, ML105
                "CREATE SPATIAL INDEX sp_books_place ON books (place)"
            )
        """,
    "a FULLTEXT index on a new table": """
        def upgrade() -> None:
            op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True))
            op.create_index("ft_notes_body", "notes", ["body"], mysql_prefix="FULLTEXT")
        """,
    # ML106
    "columns MySQL fills row by row": """
        def upgrade() -> None:
            op.add_column(  # expect: ML106
                "books",
                sa.Column("area", sa.Integer(), sa.Computed("pages * 2", persisted=True)),
            )
            op.execute(  # expect: ML101, ML106
                "ALTER TABLE books ADD COLUMN seq INT NOT NULL AUTO_INCREMENT UNIQUE, "
                "ALGORITHM=INPLACE, LOCK=NONE"
            )
            op.execute(  # expect: ML106
                "ALTER TABLE books ADD COLUMN double_pages INT AS (pages * 2) PERSISTENT, "
                "ALGORITHM=INPLACE, LOCK=NONE"
            )
        """,
    "autoincrement=True adds no AUTO_INCREMENT to a column that is no key": """
        def upgrade() -> None:
            op.add_column(  # expect: ML005
                "books", sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False)
            )
        """,
    "a virtual generated column": """
        def upgrade() -> None:
            op.add_column(
                "books", sa.Column("double_pages", sa.Integer(), sa.Computed("pages * 2"))
            )
        """,
    # ML107
    "raw ALTER TABLE without an online algorithm": """
        def upgrade() -> None:
            op.execute("ALTER TABLE books ADD COLUMN isbn VARCHAR(20) NULL")  # expect: ML107
            op.execute(  # expect: ML101, ML107
                "ALTER TABLE books ADD INDEX ix_books_isbn (isbn), ALGORITHM=INPLACE"
            )
        """,
    "raw ALTER TABLE that asks for INSTANT": """
        def upgrade() -> None:
            op.execute("ALTER TABLE `books` ADD COLUMN `isbn` VARCHAR(20) NULL, ALGORITHM=INSTANT")
        """,
    # ML108
    "a check constraint on an existing table": """
        def upgrade() -> None:
            op.create_check_constraint("ck_books_pages", "books", "pages > 0")  # expect: ML108
        """,
    # ML109
    "alter_column without what MySQL restates": """
        phase = "post-deploy"


        def upgrade() -> None:
            op.alter_column("books", "title", nullable=False)  # expect: ML109


        def downgrade() -> None:
            op.alter_column(  # expect: ML109
                "books", "title", existing_type=sa.String(300), comment="shown on the cover"
            )
        """,
    "alter_column as autogenerate writes it": """
        def upgrade() -> None:
            op.alter_column(
                "books",
                "title",
                existing_type=sa.String(300),
                existing_nullable=False,
                comment="shown on the cover",
            )


        def downgrade() -> None:
            op.alter_column("books", "pages", server_default=None)
        """,
    # ML005, ML010 and ML016 in MySQL's form; ML002 and ML003 read MySQL's SQL
    "NOT NULL columns without a default": """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.Text(), nullable=False))  # expect: ML005
            op.execute(  # expect: ML005, ML101
                "ALTER TABLE books ADD COLUMN year INT NOT NULL, ALGORITHM=INSTANT"
            )
        """,
    "NOT NULL columns MySQL gives values": """
        def upgrade() -> None:
            op.add_column(
                "books", sa.Column("year", sa.Integer(), nullable=False, server_default="0")
            )
            op.execute(  # expect: ML101, ML106, ML107
                "ALTER TABLE books ADD COLUMN seq INT NOT NULL AUTO_INCREMENT UNIQUE"
            )
            op.execute(  # expect: ML107
                "ALTER TABLE books ADD COLUMN double_pages INT AS (pages * 2) NOT NULL"
            )
        """,
    "renames": """
        def upgrade() -> None:
            op.alter_column(  # expect: ML010
                "books", "title", new_column_name="name", existing_type=sa.String(300),
                existing_nullable=False,
            )
            op.execute(  # expect: ML010, ML101
                "ALTER TABLE books CHANGE isbn code VARCHAR(20), ALGORITHM=INSTANT"
            )
            op.execute("ALTER TABLE books CHANGE note note VARCHAR(60), ALGORITHM=INSTANT")
        """,
    "NOT NULL before the rollout": """
        def upgrade() -> None:
            op.alter_column(  # expect: ML016
                "books", "isbn", existing_type=sa.String(20), nullable=False
            )
        """,
    "MySQL's drops": """
        def upgrade() -> None:
            op.execute(  # expect: ML003
                "ALTER TABLE books DROP INDEX ix_books_year, ALGORITHM=INPLACE, LOCK=NONE"
            )
            op.execute(  # expect: ML002, ML101
                "ALTER TABLE `books` DROP COLUMN `pages`, ALGORITHM=INSTANT"
            )
            op.execute(  # expect: ML003
                "ALTER TABLE books DROP FOREIGN KEY fk_books_author_id_authors, ALGORITHM=INSTANT"
            )
        """,
    "an index dropped and added back in one statement": """
        def upgrade() -> None:
            op.execute(
                "ALTER TABLE books DROP INDEX ix_books_title, "
                "ADD INDEX ix_books_title (title, pages), ALGORITHM=INPLACE, LOCK=NONE"
            )
        """,
}


@pytest.mark.parametrize("name", sorted(MYSQL_CASES))
def test_mysql_case(mysql_linter: dict[str, Any], tmp_path: Path, name: str) -> None:
    found, expected, findings = lint_case(mysql_linter, tmp_path, MYSQL_CASES[name])
    assert found == expected, "\n".join(map(str, findings))


def test_every_mysql_rule_has_a_case_that_reports_it(mysql_linter: dict[str, Any]) -> None:
    expected = set(re.findall(r"# expect: ([\w:, -]+)", "\n".join(MYSQL_CASES.values())))
    rules = {rule.strip() for group in expected for rule in group.split(",")}
    own = {rule for rule in mysql_linter["registry"].RULES if rule >= "ML100"}
    assert own | {"ML005", "ML010", "ML016"} <= rules


def test_mysql_keeps_the_rules_that_apply(
    linter: dict[str, Any], mysql_linter: dict[str, Any]
) -> None:
    postgresql, mysql = set(linter["registry"].RULES), set(mysql_linter["registry"].RULES)
    assert mysql - postgresql == {f"ML10{number}" for number in range(1, 10)}
    # ML006 (InnoDB indexes a foreign key's columns itself) and ML012 (CONCURRENTLY) are
    # PostgreSQL's; ML005, ML010 and ML016 are there in MySQL's form.
    assert postgresql - mysql == {"ML006", "ML012"}
    for rule in ("ML005", "ML010", "ML016"):
        assert linter["registry"].RULES[rule].why != mysql_linter["registry"].RULES[rule].why


def test_mysql_docs_table_is_the_registry(mysql_linter: dict[str, Any]) -> None:
    docs = (mysql_linter["project"] / "docs" / "migration-linter.md").read_text()
    assert mysql_linter["registry"].markdown_table() in docs


def test_mysql_docs_show_linted_code(mysql_linter: dict[str, Any]) -> None:
    """The MySQL section's examples are cases above, which lint clean."""
    docs = (mysql_linter["project"] / "docs" / "migration-linter.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", docs.split("\n## MySQL\n")[1], flags=re.DOTALL)
    assert blocks
    clean = [textwrap.dedent(body).strip() for body in MYSQL_CASES.values() if "expect" not in body]
    for block in blocks:
        assert block.strip() in clean, f"the MySQL section shows code no case lints:\n{block}"


def test_one_statement_message_lists_the_statements(
    mysql_linter: dict[str, Any], tmp_path: Path
) -> None:
    body = MYSQL_CASES["two changes to an existing table"]
    _, _, findings = lint_case(mysql_linter, tmp_path, body)
    [split] = [f for f in findings if f.rule == "ML101"]
    assert "runs 2 DDL statements (line 16 add_column, line 17 create_index)" in split.problem
    assert "MySQL commits each one" in split.problem
    assert split.fix.startswith("split it into one revision per statement: alembic revision -m")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("sa.String(20)", "sa.String(63)"),
        ("sa.String(length=64)", "sa.String(length=500)"),
        ("sa.String(20)", "sa.String(20)"),
        ('sa.Enum("a", "b", name="state")', 'sa.Enum("a", "b", "c", name="state")'),
    ],
)
def test_type_changes_mysql_makes_in_place(
    mysql_linter: dict[str, Any], tmp_path: Path, old: str, new: str
) -> None:
    body = f"""
        def upgrade() -> None:
            op.alter_column(
                "books", "code", type_={new}, existing_type={old}, existing_nullable=True
            )
        """
    found, _, findings = lint_case(mysql_linter, tmp_path, body)
    assert found == set(), "\n".join(map(str, findings))


def test_a_mysql_acknowledgement_silences_its_finding(
    mysql_linter: dict[str, Any], tmp_path: Path
) -> None:
    body = """
        def upgrade() -> None:
            op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))
            # migration-lint: ignore[ML101] books has 40 rows; a rerun skips the column
            op.create_index("ix_books_title", "books", ["title"])
        """
    found, _, findings = lint_case(mysql_linter, tmp_path, body)
    assert found == set()
    assert [(f.rule, f.acknowledged) for f in findings] == [("ML101", True)]
