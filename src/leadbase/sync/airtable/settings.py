"""What the sync talks to, read from the settings, with a plain error when unset."""

from __future__ import annotations

from dataclasses import dataclass

from leadbase.config import Settings, get_settings
from leadbase.errors import LeadbaseError
from leadbase.sync.airtable.client import AirtableClient, RetryPolicy
from leadbase.sync.airtable.mapping import FieldMapping, load_mapping

REQUIRED = {
    "airtable_token": "LEADBASE_AIRTABLE_TOKEN",
    "airtable_base_id": "LEADBASE_AIRTABLE_BASE_ID",
    "airtable_table": "LEADBASE_AIRTABLE_TABLE",
}


def missing_settings(settings: Settings) -> list[str]:
    """The variables to set before the sync can run (none: it is configured)."""
    return [env for name, env in REQUIRED.items() if not getattr(settings, name)]


class AirtableNotConfigured(LeadbaseError):
    status_code = 400
    code = "airtable_not_configured"


@dataclass(frozen=True)
class AirtableConfig:
    token: str
    base_id: str
    table: str
    api_url: str | None
    rate: float
    max_attempts: int
    timeout: int
    mapping: FieldMapping
    on_remote_delete: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> AirtableConfig:
        settings = settings or get_settings()
        missing = missing_settings(settings)
        if missing:
            raise AirtableNotConfigured(
                "Airtable sync is not configured: set " + ", ".join(missing)
            )
        return cls(
            token=str(settings.airtable_token),
            base_id=str(settings.airtable_base_id),
            table=str(settings.airtable_table),
            api_url=settings.airtable_api_url,
            rate=settings.airtable_rate,
            max_attempts=settings.airtable_max_attempts,
            timeout=max(1, round(settings.airtable_timeout_seconds)),
            mapping=load_mapping(settings.airtable_mapping),
            on_remote_delete=settings.airtable_on_remote_delete,
        )

    def client(self, policy: RetryPolicy | None = None) -> AirtableClient:
        return AirtableClient(
            token=self.token,
            base_id=self.base_id,
            table=self.table,
            api_url=self.api_url,
            rate=self.rate,
            policy=policy or RetryPolicy(max_attempts=self.max_attempts),
            timeout=self.timeout,
        )
