"""The database the revisions run on: its version decides the advice that depends on it."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

DATABASE = "{{ cookiecutter.database }}"
# The major version CI tests on (the postgres:17 service). Set pg_version in .squawk.toml to
# production's version: squawk and the linter's own rules both read it.
DEFAULT_POSTGRESQL = 17
SQUAWK_CONFIG = ".squawk.toml"


class TargetError(Exception):
    """The configured version cannot be read; the message says where and how to fix it."""


@dataclass(frozen=True)
class Target:
    postgresql: int | None  # the major version; None on SQLite

    def at_least(self, major: int) -> bool:
        return self.postgresql is not None and self.postgresql >= major


def target(project: Path) -> Target:
    if DATABASE != "postgresql":
        return Target(None)
    config = project / SQUAWK_CONFIG
    if not config.is_file():
        return Target(DEFAULT_POSTGRESQL)
    try:
        version = str(tomllib.loads(config.read_text(encoding="utf-8")).get("pg_version", ""))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TargetError(f"{config}: cannot be read ({error})") from None
    if not version:
        return Target(DEFAULT_POSTGRESQL)
    major = version.split(".", 1)[0]
    if not major.isdigit():
        raise TargetError(
            f'{config}: pg_version = "{version}" is not a PostgreSQL version; write e.g. "17.0"'
        )
    return Target(int(major))
