"""Developer commands: python -m devtools {lint-migrations,check-heads} --help."""

import argparse
import sys
from pathlib import Path

from devtools.migration_lint import history, lint


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
        "--no-squawk", action="store_true", help="skip squawk on the offline SQL (PostgreSQL)"
    )
    commands.add_parser("check-heads", help="fail when the revision history has several heads")
    args = parser.parse_args(argv)
    if args.command == "check-heads":
        return check_heads()
    return lint.run(args.paths, args.base, args.allow_unticked, not args.no_squawk)


if __name__ == "__main__":
    sys.exit(main())
