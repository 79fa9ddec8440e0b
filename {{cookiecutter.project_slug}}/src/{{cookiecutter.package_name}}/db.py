"""The async engine and sessions; no web framework here, so Alembic's env.py loads fast."""

from sqlalchemy import {{ "Connection, event, " if cookiecutter.database == "sqlite" }}pool
from sqlalchemy.engine import make_url
{%- if cookiecutter.database == "sqlite" %}
from sqlalchemy.engine.interfaces import DBAPIConnection
{%- endif %}
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
{%- if cookiecutter.database == "sqlite" %}
from sqlalchemy.pool import ConnectionPoolEntry
{%- endif %}

from {{ cookiecutter.package_name }}.settings import Settings
{%- if cookiecutter.database == "postgresql" %}

CONNECT_TIMEOUT_SECONDS = 5
{%- endif %}


def create_engine(settings: Settings, poolclass: type[pool.Pool] | None = None) -> AsyncEngine:
    # pre_ping replaces pooled connections that died while the database was away.
    engine = create_async_engine(
        settings.database_url,
        pool_pre_ping=True,
{%- if cookiecutter.database == "postgresql" %}
        connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
{%- endif %}
        poolclass=poolclass,
    )
{%- if cookiecutter.database == "sqlite" %}
    use_sqlite_transactions(engine)
{%- endif %}
    return engine
{%- if cookiecutter.database == "sqlite" %}


def use_sqlite_transactions(engine: AsyncEngine) -> None:
    """Let SQLite itself handle BEGIN, so DDL and SAVEPOINTs are transactional.

    The sqlite3 module only opens a transaction before INSERT/UPDATE/DELETE: a CREATE TABLE or
    a batch table rebuild would commit on its own, and a failed migration would be left
    half-applied. This is SQLAlchemy's documented recipe for pysqlite and aiosqlite.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def leave_begin_to_us(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")
{%- endif %}


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def explain_connection_error(database_url: str, error: BaseException) -> str:
    """Say why connecting failed and what to do, on one line and without the password."""
    reason = " ".join(str(getattr(error, "orig", None) or error).rpartition(">: ")[2].split())
    url = make_url(database_url)
{%- if cookiecutter.database == "postgresql" %}
    if "does not exist" in reason and "database" in reason:
        where = f"-h {url.host} " if url.host else ""
        hint = f"create it (createdb {where}-U {url.username} {url.database}) or fix DATABASE_URL"
    elif "does not exist" in reason and "role" in reason:
        hint = f"create the role (createuser {url.username}) or fix the user in DATABASE_URL"
    elif "password" in reason or "authentication" in reason:
        hint = "fix the user or password in DATABASE_URL (URL-encode % @ : / in the password)"
    elif isinstance(error, TimeoutError):
        reason = reason or f"no answer within {CONNECT_TIMEOUT_SECONDS}s"
        hint = "check DATABASE_URL's host and port, and that a firewall lets the connection through"
    else:
        hint = "check that the database server is running and DATABASE_URL's host and port"
{%- else %}
    hint = "check that the directory of the file in DATABASE_URL exists and is writable"
{%- endif %}
    # The password may be repeated in the reason (a driver echoing its DSN): remove it there too.
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return f"cannot connect to {url.render_as_string(hide_password=True)}: {reason}; {hint}"
