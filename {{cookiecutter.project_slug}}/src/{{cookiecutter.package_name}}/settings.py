"""Configuration from the environment, then `.env`."""

{% if cookiecutter.database != "sqlite" -%}
import re
{% endif -%}
from functools import lru_cache
from pathlib import Path
{%- if cookiecutter.database == "postgresql" %}
from typing import Literal
{%- endif %}

from pydantic import Field, {{ "SecretStr, " if cookiecutter.tenancy == "schema-per-tenant" }}ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import {{ "URL, " if cookiecutter.database != "sqlite" }}make_url
from sqlalchemy.exc import ArgumentError

ASYNC_DRIVERS = {
{%- if cookiecutter.database == "postgresql" %}
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
{%- elif cookiecutter.database == "mysql" %}
    "mysql": "mysql+aiomysql",
    "mysql+pymysql": "mysql+aiomysql",
    "mysql+mysqldb": "mysql+aiomysql",
    "mysql+asyncmy": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "mariadb+pymysql": "mysql+aiomysql",
    "mariadb+mysqldb": "mysql+aiomysql",
    "mariadb+aiomysql": "mysql+aiomysql",
{%- else %}
    "sqlite": "sqlite+aiosqlite",
{%- endif %}
}
{%- if cookiecutter.database == "postgresql" %}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# Query options asyncpg.connect() takes; anything else would fail deep inside the driver.
ASYNCPG_OPTIONS = frozenset({"ssl", "target_session_attrs", "prepared_statement_cache_size"})
{%- elif cookiecutter.database == "mysql" %}
# Query options aiomysql.connect() takes (SQLAlchemy turns the ssl_* ones into its `ssl`).
MYSQL_OPTIONS = frozenset({"charset", "ssl_ca", "ssl_cert", "ssl_key", "ssl_check_hostname"})
# Tables, columns and the connection all hold text as utf8mb4: MySQL's `utf8` is 3-byte only.
CHARSET = "utf8mb4"
{%- endif %}
{%- if cookiecutter.database != "sqlite" %}
# Interpolated into offline SQL scripts, so only plain durations pass.
DURATION = re.compile(r"[0-9]{1,12}(ms|s|min|h)?")
SECONDS_PER_UNIT = {"ms": 0.001, "s": 1, "min": 60, "h": 3600}
{%- if cookiecutter.database == "postgresql" %}
# PostgreSQL keeps timeouts as milliseconds in a 32-bit integer.
LONGEST, LONGEST_SHOWN = 2_147_483.647, "at most 596h"
{%- else %}
# MySQL's lock_wait_timeout and MariaDB's max_statement_time stop at one year.
LONGEST, LONGEST_SHOWN = 31_536_000, "at most 8760h"
{%- endif %}
{%- endif %}
SYNC_SCHEMES = "{{ {'postgresql': 'postgres://, postgresql://, postgresql+psycopg:// and postgresql+psycopg2://', 'mysql': 'mysql://, mariadb://, mysql+pymysql://, mysql+mysqldb:// and mysql+asyncmy://', 'sqlite': 'sqlite://'}[cookiecutter.database] }}"
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
CANARY_TENANTS = re.compile(r"[0-9]+|[a-z][a-z0-9_]{0,39}(,[a-z][a-z0-9_]{0,39})*")
{%- endif %}
EXPECTED_DRIVER = "{{ {'postgresql': 'postgresql+asyncpg', 'mysql': 'mysql+aiomysql', 'sqlite': 'sqlite+aiosqlite'}[cookiecutter.database] }}"
EXAMPLE_URL = "{{ {'postgresql': 'postgresql+asyncpg://user:password@127.0.0.1:5432/app', 'mysql': 'mysql+aiomysql://user:password@127.0.0.1:3306/app', 'sqlite': 'sqlite+aiosqlite:///./app.db'}[cookiecutter.database] }}"


{%- if cookiecutter.database != "sqlite" %}


def duration_seconds(duration: str) -> float:
    """A validated duration ('500ms', '10s', '2min'; a bare number is ms) in seconds."""
    match = DURATION.fullmatch(duration)
    unit = match.group(1) if match else None
    return int(duration.removesuffix(unit or "")) * SECONDS_PER_UNIT[unit or "ms"]
{%- endif %}


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to fix it."""


def to_async_driver(url: str) -> str:
    """Point a sync driver URL at the async driver this service runs on."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"it is not a URL; expected e.g. {EXAMPLE_URL}")
    if ASYNC_DRIVERS.get(scheme, scheme) != EXPECTED_DRIVER:
        # Only the scheme is echoed: the rest of the URL may hold a password.
        raise ValueError(
            f"{scheme}:// is not supported: use {EXPECTED_DRIVER}:// "
            f"({SYNC_SCHEMES} are converted to it), e.g. {EXAMPLE_URL}"
        )
    address = rest.partition("?")[0]
    userinfo_end = address.rfind("@")
    if address.count("@") > 1 or "/" in address[: max(userinfo_end, 0)]:
        # The parts of the password after a raw @ or / would be read as the host or database.
        raise ValueError(
            "its password holds a raw @ or /: URL-encode the password (@ is %40, / is %2F, "
            "% is %25, : is %3A)"
        )
    try:
        parsed = make_url(f"{EXPECTED_DRIVER}://{rest}")
    except (ArgumentError, ValueError):
        raise ValueError(f"it cannot be parsed; expected e.g. {EXAMPLE_URL}") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(f"its port {parsed.port} is not between 1 and 65535")
    try:
        # What the resolver will be handed: a label over 63 characters fails deep in a connect.
        (parsed.host or "").encode("idna")
    except UnicodeError:
        raise ValueError(
            "its host is not a valid host name: each dot-separated part must be 1 to 63 characters"
        ) from None
{%- if cookiecutter.database == "mysql" %}
    if not parsed.database:
        # MySQL would connect to no database, and Alembic fail at its first table lookup.
        raise ValueError(f"it names no database: add it after the host, e.g. {EXAMPLE_URL}")
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}
    parsed = with_asyncpg_options(parsed)
{%- elif cookiecutter.database == "mysql" %}
    parsed = with_mysql_options(parsed)
{%- endif %}
    return parsed.render_as_string(hide_password=False)
{%- if cookiecutter.database == "postgresql" %}


def with_asyncpg_options(url: URL) -> URL:
    """Translate the libpq options hosted PostgreSQL URLs carry; refuse what asyncpg lacks."""
    options = dict(url.query)
    if "sslmode" in options:
        mode = options.pop("sslmode")
        if mode not in SSL_MODES:
            raise ValueError(f"sslmode={mode} is not one of {', '.join(SSL_MODES)}")
        options["ssl"] = mode
    unknown = sorted(set(options) - ASYNCPG_OPTIONS)
    if unknown:
        raise ValueError(
            f"option {unknown[0]} is not understood by asyncpg: remove it from the URL "
            f"(supported: sslmode, {', '.join(sorted(ASYNCPG_OPTIONS))}; certificates go in "
            "PGSSLROOTCERT, PGSSLCERT and PGSSLKEY)"
        )
    return url.set(query=options)
{%- elif cookiecutter.database == "mysql" %}


def with_mysql_options(url: URL) -> URL:
    """utf8mb4 on the connection; refuse what aiomysql lacks, or a charset that loses text."""
    options = dict(url.query)
    charset = options.setdefault("charset", CHARSET)
    if charset != CHARSET:
        raise ValueError(
            f"charset={charset} cannot hold all of Unicode (emoji, some CJK): remove charset "
            f"from the URL or set charset={CHARSET}"
        )
    unknown = sorted(set(options) - MYSQL_OPTIONS)
    if unknown:
        raise ValueError(
            f"option {unknown[0]} is not understood by aiomysql: remove it from the URL "
            f"(supported: {', '.join(sorted(MYSQL_OPTIONS))})"
        )
    return url.set(query=options)
{%- endif %}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    database_url: str
    alembic_ini: Path = Path("alembic.ini")
{%- if cookiecutter.database == "postgresql" %}
    # Applied to every migration connection, and written into offline (--sql) scripts.
    migration_lock_timeout: str = "5s"
    migration_statement_timeout: str = "60s"
    # A revision that gives up on lock_timeout is rolled back and run again, this many times,
    # after MIGRATION_LOCK_RETRY_DELAY, doubled at each retry (docs/runbook.md).
    migration_lock_retries: int = Field(default=3, ge=0)
    migration_lock_retry_delay: str = "1s"
    # Bounds each statement of a request: a stalled database costs a 503, not an endless wait.
    database_statement_timeout: str = "10s"
    # `pgbouncer`: a transaction pooler stands between the app and PostgreSQL, so connections
    # keep no prepared statements or settings of their own (docs/runbook.md, "Behind PgBouncer").
    database_pooler: Literal["none", "pgbouncer"] = "none"
    # Migrations need a session of their own: set this to a URL straight to PostgreSQL when
    # DATABASE_URL goes through a pooler. Alembic uses it instead of DATABASE_URL.
    migration_database_url: str | None = None
{%- elif cookiecutter.database == "mysql" %}
    # Applied to every migration connection, and written into offline (--sql) scripts: how long
    # DDL waits for a table's metadata lock (lock_wait_timeout), and, on MariaDB, how long one
    # statement may run (max_statement_time; MySQL has no limit for DDL).
    migration_lock_timeout: str = "5s"
    migration_statement_timeout: str = "60s"
    # Bounds each statement of a request: MariaDB's max_statement_time, MySQL's
    # max_execution_time (which MySQL applies to SELECTs only).
    database_statement_timeout: str = "10s"
{%- endif %}
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    # Bearer token for POST /tenants; unset, the endpoint does not exist (404).
    tenant_admin_token: SecretStr | None = None
    # `alembic upgrade` migrates tenants on this many connections at once (docs/tenancy.md).
    migration_tenant_workers: int = Field(default=4, ge=1)
    # Migrated first, and the run stops if one fails: the first N tenants, or a list of names.
    migration_canary_tenants: str = "1"
{%- endif %}
    # Larger bodies get a 413 before they are read: parsing them would block the event loop.
    max_request_body_bytes: int = Field(default=1024 * 1024, gt=0)

    @field_validator("database_url")
    @classmethod
    def use_async_driver(cls, value: str) -> str:
        return to_async_driver(value.strip())
{%- if cookiecutter.database == "postgresql" %}

    @field_validator("migration_database_url")
    @classmethod
    def migration_url_uses_async_driver(cls, value: str | None) -> str | None:
        return None if value is None else to_async_driver(value.strip())
{%- endif %}
{%- if cookiecutter.database != "sqlite" %}

    @field_validator(
        "migration_lock_timeout",
        "migration_statement_timeout",
{%- if cookiecutter.database == "postgresql" %}
        "migration_lock_retry_delay",
{%- endif %}
        "database_statement_timeout",
    )
    @classmethod
    def is_duration(cls, value: str) -> str:
        if not DURATION.fullmatch(value):
            raise ValueError(f"{value!r} is not a duration such as '500ms', '5s' or '2min'")
        if duration_seconds(value) > LONGEST:
            raise ValueError(f"{value!r} is longer than the server allows ({LONGEST_SHOWN})")
        return value
{%- endif %}
{%- if cookiecutter.tenancy == "schema-per-tenant" %}

    @field_validator("migration_canary_tenants")
    @classmethod
    def is_count_or_names(cls, value: str) -> str:
        value = ",".join(name.strip() for name in value.split(","))
        if not CANARY_TENANTS.fullmatch(value):
            raise ValueError(
                f"{value[:80]!r} is neither a number of tenants nor a comma-separated list of "
                "tenant names"
            )
        return value
{%- endif %}


def describe(error: ValidationError) -> str:
    """One line per problem, naming the environment variable, never echoing its value."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        if problem["type"] == "missing":
            lines.append(f"{name} is not set: export it or add it to .env (see .env.example)")
        else:
            lines.append(f"{name} is invalid: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(describe(error)) from None
