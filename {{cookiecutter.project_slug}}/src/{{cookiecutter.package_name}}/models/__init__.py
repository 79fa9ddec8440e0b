"""Every model is imported here so that `Base.metadata` is complete for Alembic."""

{%- set tenants = cookiecutter.tenancy == "schema-per-tenant" %}
{%- set example = cookiecutter.example_model == "yes" %}

from {{ cookiecutter.package_name }}.models.base import Base{{ ", SharedBase" if tenants }}
{%- if example %}
from {{ cookiecutter.package_name }}.models.library import Author, Book
{%- endif %}
{%- if tenants %}
from {{ cookiecutter.package_name }}.models.tenant import Tenant
{%- endif %}

__all__ = [
{%- if example %}"Author", {% endif %}"Base"
{%- if example %}, "Book"{% endif %}
{%- if tenants %}, "SharedBase", "Tenant"{% endif %}]
