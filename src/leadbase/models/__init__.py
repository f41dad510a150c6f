"""All tables. Import from here so every model is registered on the metadata."""

from leadbase.models.airtable import (
    AIRTABLE_RUN_COUNTERS,
    AirtableConflict,
    AirtableLink,
    AirtableRun,
)
from leadbase.models.analytics import ActivityRollup, LeadRollup, StageRollup
from leadbase.models.apify import ApifySyncState
from leadbase.models.audit import GENESIS_HASH, AuditChainHead, AuditLog
from leadbase.models.base import Base, new_id, utcnow
from leadbase.models.company import Company
from leadbase.models.duplicate import (
    DedupeDismissal,
    DuplicateCluster,
    DuplicateClusterLead,
    Merge,
    MergeMember,
)
from leadbase.models.idempotency import IdempotencyKey
from leadbase.models.imports import IMPORT_MODES, IMPORT_STATUSES, ImportReject, ImportRun
from leadbase.models.job import JOB_STATUSES, Job
from leadbase.models.lead import (
    ENRICHMENT_STATUSES,
    LEAD_STATUSES,
    LeadEvent,
    LeadSource,
    SalesLead,
)
from leadbase.models.saved_view import ListColumns, SavedView
from leadbase.models.scoring import ScoringModel
from leadbase.models.sync import MigrationLog, SyncStatus
from leadbase.models.user import ROLES, ApiKey, RefreshToken, User

__all__ = [
    "AIRTABLE_RUN_COUNTERS",
    "ENRICHMENT_STATUSES",
    "GENESIS_HASH",
    "IMPORT_MODES",
    "IMPORT_STATUSES",
    "JOB_STATUSES",
    "LEAD_STATUSES",
    "ROLES",
    "ActivityRollup",
    "AirtableConflict",
    "AirtableLink",
    "AirtableRun",
    "ApiKey",
    "ApifySyncState",
    "AuditChainHead",
    "AuditLog",
    "Base",
    "Company",
    "DedupeDismissal",
    "DuplicateCluster",
    "DuplicateClusterLead",
    "IdempotencyKey",
    "ImportReject",
    "ImportRun",
    "Job",
    "LeadEvent",
    "LeadRollup",
    "LeadSource",
    "ListColumns",
    "Merge",
    "MergeMember",
    "MigrationLog",
    "RefreshToken",
    "SalesLead",
    "SavedView",
    "ScoringModel",
    "StageRollup",
    "SyncStatus",
    "User",
    "new_id",
    "utcnow",
]
