"""Settings: one class, every value overridable with a ``LEADBASE_`` variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADBASE_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: an SQLite file under data_dir"
    )
    secret_key: str | None = None
    admin_email: str | None = None
    admin_password: str | None = None
    redis_url: str | None = None
    queue: Literal["local", "celery"] = "local"
    default_phone_region: str = Field(
        default="US", description="region used to read phone numbers written without +country"
    )
    sqlite_busy_timeout_ms: int = 30_000
    sqlite_cache_kib: int = Field(
        default=65536, ge=1024, description="SQLite's page cache per connection, in KiB"
    )
    sqlite_mmap_bytes: int = Field(
        default=8 * 1024**3,
        ge=0,
        description="SQLite reads the file through a memory map this large (0: read() calls); "
        "mapped pages count in the process's RSS",
    )
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="peers (IPs) whose X-Forwarded-For is believed for the client address",
    )
    mutation_rate_limit: str = Field(
        default="10/second",
        description="mutating requests allowed per principal (a `limits` rate string)",
    )
    login_rate_limit: str = Field(
        default="5/minute", description="failed logins allowed per account and per client ip"
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, description="request bodies over this many bytes get 413"
    )
    max_upload_bytes: int = Field(
        default=2 * 1024**3, description="import file uploads over this many bytes get 413"
    )
    idempotency_ttl_hours: int = 24
    worker_threads: int = Field(
        default=4,
        ge=1,
        le=100,
        description="threads per server process for blocking work (writes, password checks)",
    )
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    airtable_token: str | None = None
    airtable_base_id: str | None = None
    airtable_table: str | None = None
    airtable_api_url: str | None = None
    # Airtable two-way sync (issue 14)
    airtable_mapping: Path | None = Field(
        default=None,
        description="a JSON or TOML file: lead field -> Airtable field name "
        "(default: leadbase.sync.airtable.mapping.DEFAULT_MAPPING)",
    )
    airtable_rate: float = Field(
        default=5.0, gt=0, description="requests per second we send to one Airtable base"
    )
    airtable_max_attempts: int = Field(
        default=5,
        ge=1,
        le=50,
        description="tries of a request, and pushes of a record, before it counts as failed",
    )
    airtable_timeout_seconds: float = Field(default=30.0, gt=0)
    airtable_on_remote_delete: Literal["flag", "delete"] = Field(
        default="flag",
        description="a record deleted in Airtable: tag its lead 'airtable-deleted' (flag) "
        "or soft-delete the lead (delete)",
    )
    airtable_sync_seconds: float | None = Field(
        default=None, gt=0, description="the worker runs `airtable sync` this often"
    )
    airtable_full_pull_hours: float = Field(
        default=24.0,
        gt=0,
        description="a sync also pulls every record (to find deletes) this often",
    )
    score_on_write: bool = Field(
        default=True,
        description="every change to a lead or its activities queues a job that scores it again",
    )
    scoring_rules: Path | None = Field(
        default=None,
        description="a TOML or JSON rules file for the rule score (default: the built-in rules)",
    )
    scoring_mode: Literal["rules", "model", "blend"] = Field(
        default="rules",
        description="rules: the rule score; model: the trained model's; blend: both, "
        "weighted by scoring_blend_weight",
    )
    scoring_blend_weight: float = Field(
        default=0.5, ge=0, le=1, description="the trained model's share of a blended score"
    )
    apify_token: str | None = None
    apify_api_url: str | None = None
    apify_watch_seconds: float | None = Field(
        default=None,
        gt=0,
        description="an `apify_watch` job queues the next watch of its actor this long after",
    )
    # background jobs (issue 4)
    job_max_attempts: int = Field(default=5, ge=1, le=100)
    job_backoff_seconds: float = Field(
        default=2.0, gt=0, description="first retry delay; doubles each attempt, with jitter"
    )
    job_backoff_max_seconds: float = Field(default=300.0, gt=0)
    job_lease_seconds: int = Field(
        default=60, ge=1, description="a running job not renewed for this long runs again"
    )
    job_poll_seconds: float = Field(default=1.0, gt=0)
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    jobs_in_server: bool = Field(
        default=True, description="local queue: run jobs on threads inside `leadbase serve`"
    )
    job_handler_modules: list[str] = Field(
        default_factory=list, description="extra modules a worker imports for their handlers"
    )
    stream_max_seconds: float = Field(
        default=300.0, gt=0, description="how long GET /leads/{id}/stream follows a lead"
    )
    # enrichment (issue 4)
    enrichment_providers: list[str] = Field(
        default_factory=lambda: ["email", "person", "phone", "company", "website", "webhook"],
        description="the waterfall, in order",
    )
    enrichment_timeout_seconds: float = Field(default=10.0, gt=0)
    enrichment_retries: int = Field(default=1, ge=0, le=10)
    enrichment_breaker_failures: int = Field(default=5, ge=1)
    enrichment_breaker_reset_seconds: float = Field(default=60.0, gt=0)
    dns_nameservers: list[str] = Field(
        default_factory=list,
        description="for enrichment lookups (MX, website fetches); empty: the system resolver",
    )
    dns_port: int = 53
    website_max_bytes: int = Field(default=1_000_000, ge=1024)
    website_max_redirects: int = Field(default=3, ge=0, le=20)
    allow_private_network_fetch: bool = Field(
        default=False, description="let website enrichment fetch private/loopback addresses"
    )
    enrichment_webhook_url: str | None = None
    enrichment_webhook_token: str | None = None
    # duplicates (issue 12)
    dedupe_rules: Path | None = Field(
        default=None,
        description="a TOML or JSON file of duplicate rules (thresholds, weights); "
        "default: the rules built into leadbase.dedupe.rules",
    )
    dedupe_high: float | None = Field(
        default=None, ge=0, le=1, description="overrides the rules' auto-merge threshold"
    )
    dedupe_low: float | None = Field(
        default=None, ge=0, le=1, description="overrides the rules' review threshold"
    )
    rate_limit_key_prefix: str = Field(
        default="leadbase",
        description="prefix of the rate limit keys in Redis (several deployments can share one)",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'leadbase.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
