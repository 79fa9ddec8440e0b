"""Every model is imported here so that `Base.metadata` is complete for Alembic."""

from {{ cookiecutter.package_name }}.models.base import Base
{%- if cookiecutter.example_model == "yes" %}
from {{ cookiecutter.package_name }}.models.library import Author, Book

__all__ = ["Author", "Base", "Book"]
{%- else %}

__all__ = ["Base"]
{%- endif %}
