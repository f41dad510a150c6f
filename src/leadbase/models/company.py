"""companies: one row per organisation; leads point at it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import AuditColumns, Base, JSONType, SoftDeleteColumns, new_id


class Company(AuditColumns, SoftDeleteColumns, Base):
    __tablename__ = "companies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    # Derived from name by the write path (dedupe.normalise), not audited:
    # the key a lead's company name finds the company by, and the key
    # company lists sort and search names by.
    name_key: Mapped[str | None] = mapped_column(String(255))
    sort_name: Mapped[str | None] = mapped_column(String(255))
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    company_type: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str | None] = mapped_column(String(100), index=True)
    city: Mapped[str | None] = mapped_column(String(100))
    industry: Mapped[str | None] = mapped_column(String(100), index=True)
    employee_count: Mapped[int | None] = mapped_column(Integer)
    employee_size_min: Mapped[int | None] = mapped_column(Integer)
    employee_size_max: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(String(500))
    linkedin_url: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    merged_into_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("companies.id", ondelete="SET NULL")
    )

    __table_args__ = (
        Index("idx_company_location", "country", "city"),
        Index("idx_company_industry_country", "industry", "country"),
        Index("idx_company_name_key", "name_key"),
        Index("idx_company_sort_name", "sort_name", "id"),
    )
    __mapper_args__: dict[str, Any] = {"version_id_col": version}
