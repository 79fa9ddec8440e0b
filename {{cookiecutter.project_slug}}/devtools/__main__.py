"""Developer commands: `python -m devtools --help` lists them."""

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from devtools.migration_lint import history, lint, registry{{ ", squawk" if cookiecutter.database == "postgresql" }}

ROUNDTRIP = (["upgrade", "head"], ["check"], ["downgrade", "base"], ["upgrade", "head"])
# Database names keep 63 bytes: a long slug would cut off the unique part of the name.
ROUNDTRIP_PREFIX = "roundtrip_{{ cookiecutter.project_slug[:30] }}"
N_MINUS_ONE_PREFIX = "n_minus_one_{{ cookiecutter.project_slug[:30] }}"


def check_heads() -> int:
    if not lint.ALEMBIC_INI.is_file():
        print("check-heads: no alembic.ini here; run it from the project root", file=sys.stderr)
        return lint.UNUSABLE
    try:
        _, heads = history.revisions(lint.ALEMBIC_INI)
    except history.HistoryError as error:
        print(f"check-heads: {error}", file=sys.stderr)
        return lint.UNUSABLE
    if len(heads) > 1:
        listed = ", ".join(f"{h.id} ({h.path.name})" for h in heads)
        print(
            f"check-heads: {len(heads)} head revisions: {listed}; merge them with "
            'alembic merge heads -m "merge heads", then review and commit the merge revision'
        )
        return lint.FINDINGS
    print(f"check-heads: one head ({heads[0].id})" if heads else "check-heads: no revisions yet")
    return lint.CLEAN


def with_migration_url(name: str, work: Callable[[str], int]) -> int:
    """work(the URL migrations use), or one line naming what is wrong with it."""
    # Only these commands need the application and a database driver; the linter needs neither.
    from sqlalchemy.exc import DBAPIError

    from {{ cookiecutter.package_name }}.db import explain_connection_error
    from {{ cookiecutter.package_name }}.migrator.config import direct_url
    from {{ cookiecutter.package_name }}.settings import ConfigurationError, get_settings

    try:
        database_url, variable = direct_url(get_settings())
    except ConfigurationError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return lint.UNUSABLE
    try:
        return work(database_url)
    except (OSError, DBAPIError) as error:
        print(f"{name}: {explain_connection_error(database_url, error, variable)}", file=sys.stderr)
        return lint.UNUSABLE


def migration_roundtrip(database_url: str) -> int:
    """Upgrade, check, downgrade and upgrade again on a scratch database, never your own."""
    from devtools.scratch import scratch_database, scratch_environment

    with scratch_database(database_url, ROUNDTRIP_PREFIX) as scratch:
        environment = scratch_environment(os.environ, scratch)
        for arguments in ROUNDTRIP:
            print(f"migration-roundtrip: alembic {' '.join(arguments)}", flush=True)
            command = [sys.executable, "-m", "alembic", *arguments]
            if (code := subprocess.run(command, env=environment, check=False).returncode) != 0:
                return code
    return lint.CLEAN


def n_minus_one(base: str | None) -> int:
    """The merge base's API tests on a scratch database this checkout's pre-deploy phase made."""
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    print(
        "n-minus-one: not available with schema-per-tenant: the base's API tests create a "
        "tenant each, which the base's code refuses on a database a newer release migrated",
        file=sys.stderr,
    )
    return lint.UNUSABLE
{%- else %}
    from devtools.n_minus_one import run as run_n_minus_one

    package = "{{ cookiecutter.package_name }}"
    return with_migration_url(
        "n-minus-one",
        lambda database_url: run_n_minus_one(database_url, base, package, N_MINUS_ONE_PREFIX),
    )
{%- endif %}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools")
    commands = parser.add_subparsers(dest="command", required=True)
    lint_parser = commands.add_parser(
        "lint-migrations", help="check Alembic revisions (docs/migration-linter.md)"
    )
    lint_parser.add_argument(
        "paths", nargs="*", type=Path, help="revision files or directories [migrations/versions]"
    )
    lint_parser.add_argument(
        "--base", metavar="REF", help="git ref of the base branch: merged revisions must not change"
    )
    lint_parser.add_argument(
        "--allow-unticked", action="store_true", help="do not require a ticked review checklist"
    )
    lint_parser.add_argument(
        "--rules", action="store_true", help="print the rules (why each matters, the fix) and exit"
    )
{%- if cookiecutter.database == "postgresql" %}
    lint_parser.add_argument(
        "--no-squawk", action="store_true", help="skip squawk on the offline SQL"
    )
{%- endif %}
    commands.add_parser("check-heads", help="fail when the revision history has several heads")
    commands.add_parser(
        "migration-roundtrip",
        help="upgrade, check, downgrade and upgrade again on a scratch database",
    )
    n_minus_one_parser = commands.add_parser(
        "n-minus-one",
        help="the merge base's API tests on this checkout's pre-deploy schema (docs/migrations.md)",
    )
    n_minus_one_parser.add_argument(
        "--base",
        metavar="REF",
        help="the branch or commit deployed now [origin/HEAD, else origin/main, else main]",
    )
    report_parser = commands.add_parser(
        "migration-report",
        help="what new revisions do: locks measured on a scratch database (docs/migrations.md)",
    )
    report_parser.add_argument(
        "paths", nargs="*", type=Path, help="revision files to report [the new ones since --base]"
    )
    report_parser.add_argument(
        "--base", metavar="REF", help="git ref of the base branch [origin/HEAD, origin/main, main]"
    )
    report_parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    report_parser.add_argument("--output", metavar="FILE", type=Path, help="[standard output]")
    report_parser.add_argument(
        "--json", metavar="FILE", type=Path, help="also write the JSON report to FILE"
    )
    report_parser.add_argument(
        "--fixtures",
        metavar="FILE",
        type=Path,
        help="seed(connection, revision) fills the scratch database [devtools/report_fixtures.py]",
    )
    args = parser.parse_args(argv)
    if args.command == "migration-report":
        # Only this command needs the application and a database driver; the linter needs neither.
        from devtools.migration_report.command import run as report

        return report(args.paths, args.base, args.format, args.output, args.fixtures, args.json)
    if args.command == "n-minus-one":
        return n_minus_one(args.base)
    if args.command == "check-heads":
        return check_heads()
    if args.command == "migration-roundtrip":
        return with_migration_url("migration-roundtrip", migration_roundtrip)
    if args.rules:
        print(registry.markdown_table())
        return 0
{%- if cookiecutter.database == "postgresql" %}
    checks = [] if args.no_squawk else [squawk.check]
    return lint.run(args.paths, args.base, args.allow_unticked, checks)
{%- else %}
    return lint.run(args.paths, args.base, args.allow_unticked)
{%- endif %}


if __name__ == "__main__":
    sys.exit(main())
