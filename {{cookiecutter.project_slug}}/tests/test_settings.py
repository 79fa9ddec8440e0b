"""DATABASE_URL as people write it: converted to the async driver, or refused on one line."""

import pytest
{%- if cookiecutter.database != "sqlite" %}
from pydantic import ValidationError
from sqlalchemy import text
{%- endif %}

from {{ cookiecutter.package_name }}.settings import {{ "EXAMPLE_URL, Settings, " if cookiecutter.database != "sqlite" }}to_async_driver
{%- if cookiecutter.database != "sqlite" %}
from tests.databases import connected

SECRET = "hunter2"
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://app:pw@db:5432/app", "postgresql+asyncpg://app:pw@db:5432/app"),
        ("postgresql://app:p%40w%2Fd@db/app", "postgresql+asyncpg://app:p%40w%2Fd@db/app"),
        ("postgresql://app@db/app?sslmode=require", "postgresql+asyncpg://app@db/app?ssl=require"),
        (
            "postgresql+psycopg://app@db/app?sslmode=verify-full&target_session_attrs=read-write",
            "postgresql+asyncpg://app@db/app?ssl=verify-full&target_session_attrs=read-write",
        ),
    ],
)
def test_urls_are_converted_to_asyncpg(given: str, expected: str) -> None:
    assert to_async_driver(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (f"postgresql://app:{SECRET}@x@db/app", "URL-encode the password (@ is %40"),
        (f"postgresql://app:t@{SECRET}/x@db/app", "URL-encode the password (@ is %40, / is %2F"),
        (f"postgresql://app:{SECRET}/x@db/app", "URL-encode the password"),
        ("postgresql://app@db/app?sslmode=sometimes", "sslmode=sometimes is not one of disable"),
        ("postgresql://app@db/app?connect_timeout=5", "option connect_timeout is not understood"),
        ("postgresql://app@db/app?sslrootcert=/ca.pem", "certificates go in PGSSLROOTCERT"),
        (f"postgresql://app:{SECRET}@db:99999/app", "its port 99999 is not between 1 and 65535"),
    ],
)
def test_urls_asyncpg_would_misread_are_refused_without_echoing_them(
    given: str, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        to_async_driver(given)

    assert message in str(refused.value)
    assert SECRET not in str(refused.value)
    assert "\n" not in str(refused.value)


async def test_an_sslmode_url_connects(database_url: str) -> None:
    # The local server may run without TLS: `prefer` negotiates and falls back, as libpq does.
    url = to_async_driver(database_url.replace("+asyncpg", "") + "?sslmode=prefer")
    async with connected(url) as connection:
        assert await connection.scalar(text("SELECT 1")) == 1
{%- elif cookiecutter.database == "mysql" %}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("mysql://app:pw@db:3306/app", "mysql+aiomysql://app:pw@db:3306/app?charset=utf8mb4"),
        ("mariadb://app:p%40w%2Fd@db/app", "mysql+aiomysql://app:p%40w%2Fd@db/app?charset=utf8mb4"),
        (
            "mysql+pymysql://app@db/app?charset=utf8mb4",
            "mysql+aiomysql://app@db/app?charset=utf8mb4",
        ),
        ("mariadb+aiomysql://app@db/app", "mysql+aiomysql://app@db/app?charset=utf8mb4"),
        (
            "mysql+asyncmy://app@db/app?ssl_ca=/ca.pem",
            "mysql+aiomysql://app@db/app?charset=utf8mb4&ssl_ca=%2Fca.pem",
        ),
    ],
)
def test_urls_are_converted_to_aiomysql_with_utf8mb4(given: str, expected: str) -> None:
    assert to_async_driver(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (f"mysql://app:{SECRET}@x@db/app", "URL-encode the password (@ is %40"),
        (f"mysql://app:{SECRET}/x@db/app", "URL-encode the password"),
        (f"mysql://app:{SECRET}@db/app?charset=utf8", "charset=utf8 cannot hold all of Unicode"),
        (f"mysql://app:{SECRET}@db/app?charset=latin1", "set charset=utf8mb4"),
        (f"mysql://app:{SECRET}@db/app?connect_timeout=5", "option connect_timeout is not"),
        (f"mysql://app:{SECRET}@db:99999/app", "its port 99999 is not between 1 and 65535"),
        (f"postgresql://app:{SECRET}@db/app", "postgresql:// is not supported"),
        (f"sqlite:///{SECRET}.db", "use mysql+aiomysql://"),
    ],
)
def test_urls_aiomysql_would_misread_are_refused_without_echoing_them(
    given: str, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        to_async_driver(given)

    assert message in str(refused.value)
    assert SECRET not in str(refused.value)
    assert "\n" not in str(refused.value)


async def test_a_mariadb_url_connects_and_keeps_four_byte_characters(database_url: str) -> None:
    url = to_async_driver(database_url.replace("mysql+aiomysql://", "mariadb://"))
    async with connected(url) as connection:
        charset = await connection.scalar(text("SELECT @@character_set_connection"))
        owl = await connection.scalar(text("SELECT CAST(:owl AS CHAR)"), {"owl": "\U0001f989"})

    assert charset == "utf8mb4"
    assert owl == "\U0001f989"
{%- else %}


def test_a_sqlite_url_is_converted_to_aiosqlite() -> None:
    assert to_async_driver("sqlite:///./app.db") == "sqlite+aiosqlite:///./app.db"


def test_another_database_is_refused_without_echoing_the_url() -> None:
    with pytest.raises(ValueError) as refused:
        to_async_driver("postgresql://app:hunter2@db/app")

    assert "postgresql:// is not supported" in str(refused.value)
    assert "hunter2" not in str(refused.value)
{%- endif %}
{%- if cookiecutter.database != "sqlite" %}


def test_a_host_name_no_resolver_takes_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        to_async_driver(EXAMPLE_URL.replace("127.0.0.1", "a" * 64 + ".example.com"))

    assert "its host is not a valid host name" in str(refused.value)


@pytest.mark.parametrize("setting", ["migration_lock_timeout", "database_statement_timeout"])
def test_a_timeout_longer_than_the_server_allows_is_refused(setting: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"database_url": EXAMPLE_URL, setting: "100000h"})

    assert "'100000h' is longer than the server allows (at most" in str(refused.value)
    assert Settings.model_validate({"database_url": EXAMPLE_URL, setting: "500h"})
{%- endif %}
