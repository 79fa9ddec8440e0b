"""The declarative base; its naming convention gives every constraint a predictable name."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints make downgrades portable: unnamed ones get names the database invents.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

{%- if cookiecutter.tenancy == "schema-per-tenant" %}
SHARED_SCHEMA = "shared"
{%- endif %}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
shared_metadata = MetaData(naming_convention=NAMING_CONVENTION)
{%- endif %}


class Base(DeclarativeBase):
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    """Tenant tables: no schema here; each tenant's queries and migrations set it."""
{% endif %}
    metadata = metadata
{%- if cookiecutter.tenancy == "schema-per-tenant" %}


class SharedBase(DeclarativeBase):
    """Tables every tenant shares, in the shared schema."""

    metadata = shared_metadata
{%- endif %}
