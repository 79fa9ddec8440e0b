"""The tenant registry, in the shared schema next to every tenant's own schema."""

from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from {{ cookiecutter.package_name }}.models.base import SHARED_SCHEMA, SharedBase


class Tenant(SharedBase):
    __tablename__ = "tenants"
    __table_args__ = {"schema": SHARED_SCHEMA}

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
