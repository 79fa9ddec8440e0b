"""The one place that builds an Alembic `Config`, and reads what a caller asked of env.py."""

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Connection

from {{ cookiecutter.package_name }}.settings import Settings, get_settings


def build_config(
    connection: Connection | None = None,
    *,
    ini: Path | None = None,
    script_location: Path | None = None,
    settings: Settings | None = None,
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    tenant: str | None = None,
{%- endif %}
) -> Config:
    """An Alembic config for running commands from Python.

    env.py runs on `connection` if given, else connects with `settings` (default: the
    environment's).
    """
    config = Config(ini or (settings or get_settings()).alembic_ini)
    # The caller's logging stays as it is: env.py only configures logging for the CLI.
    config.attributes["configure_logger"] = False
    config.attributes["connection"] = connection
    config.attributes["settings"] = settings
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    config.attributes["tenant"] = tenant
{%- endif %}
    if script_location is not None:
        config.set_main_option("script_location", str(script_location))
    return config


def settings_for(config: Config) -> Settings:
    """The settings a caller passed to build_config(), else the environment's{{ "; with
    MIGRATION_DATABASE_URL set, it is the URL migrations connect to" if cookiecutter.database == "postgresql" }}."""
    given = config.attributes.get("settings")
{%- if cookiecutter.database == "postgresql" %}
    return direct_to_postgresql(given if isinstance(given, Settings) else get_settings())


def direct_to_postgresql(settings: Settings) -> Settings:
    """Migrations hold a session lock and settings: they connect past the pooler when told how."""
    if settings.migration_database_url is None:
        return settings
    return settings.model_copy(
        update={"database_url": settings.migration_database_url, "database_pooler": "none"}
    )
{%- else %}
    return given if isinstance(given, Settings) else get_settings()
{%- endif %}


def url_variable(settings: Settings) -> str:
    """The setting the URL migrations connect to comes from."""
{%- if cookiecutter.database == "postgresql" %}
    return "DATABASE_URL" if settings.migration_database_url is None else "MIGRATION_DATABASE_URL"
{%- else %}
    return "DATABASE_URL"
{%- endif %}


def direct_url(settings: Settings) -> tuple[str, str]:
    """The URL migrations connect to, and the setting it comes from."""
{%- if cookiecutter.database == "postgresql" %}
    return direct_to_postgresql(settings).database_url, url_variable(settings)
{%- else %}
    return settings.database_url, url_variable(settings)
{%- endif %}


def is_command_line(config: Config) -> bool:
    """True when the `alembic` command runs env.py, False when Python code does."""
    return config.cmd_opts is not None and command_name(config) is not None


def excluded_tables(config: Config) -> list[str]:
    """The `autogenerate_exclude` patterns of alembic.ini."""
    patterns = config.get_main_option("autogenerate_exclude", "") or ""
    return [pattern.strip() for pattern in patterns.split(",") if pattern.strip()]


def command_name(config: Config) -> str | None:
    """The alembic command being run (`upgrade`, `check`, ...), None from Python code."""
    command = getattr(config.cmd_opts, "cmd", None)
    return None if command is None else str(command[0].__name__)


def is_autogenerating(config: Config) -> bool:
    return bool(getattr(config.cmd_opts, "autogenerate", False))
{%- if cookiecutter.tenancy == "schema-per-tenant" %}


def requested_tenant(config: Config, x_arguments: dict[str, str]) -> str | None:
    """The tenant a caller named: `build_config(tenant=...)` or `-x tenant=NAME`."""
    tenant = config.attributes.get("tenant")
    return str(tenant) if tenant is not None else x_arguments.get("tenant")
{%- endif %}
