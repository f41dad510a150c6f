"""Domain errors. Each carries the HTTP status and machine code the API renders."""

from __future__ import annotations

from typing import Any


class LeadbaseError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationError(LeadbaseError):
    """Input that cannot be stored. ``field`` names the first offending field."""

    status_code = 422
    code = "validation_error"

    def __init__(self, field: str, message: str, *, details: list[dict[str, Any]] | None = None):
        self.field = field
        super().__init__(
            f"{field}: {message}", details=details or [{"field": field, "message": message}]
        )

    @property
    def fields(self) -> list[str]:
        return [str(d["field"]) for d in self.details]


class NotFoundError(LeadbaseError):
    status_code = 404
    code = "not_found"


class ConflictError(LeadbaseError):
    """A write based on a stale version, or one that contradicts the current state."""

    status_code = 409
    code = "conflict"

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class DuplicateLeadError(LeadbaseError):
    status_code = 409
    code = "duplicate"

    def __init__(
        self,
        existing_id: str,
        matched_on: str,
        entity: str = "lead",
        *,
        where: str = "",
        score: float | None = None,
        reasons: tuple[str, ...] = (),
    ) -> None:
        why = f" ({', '.join(reasons)})" if len(reasons) > 1 else ""
        same = f"the same {matched_on}" if not why else "a likely duplicate"
        super().__init__(
            f"{where}a {entity} with {same} already exists: {existing_id}{why}",
            details=[
                {"field": matched_on, "existing_id": existing_id}
                | (
                    {"score": round(score, 3), "reasons": list(reasons)}
                    if score is not None
                    else {}
                )
            ],
        )
        self.existing_id = existing_id
        self.matched_on = matched_on
        self.score = score
        self.reasons = reasons


class AuditChainError(LeadbaseError):
    status_code = 500
    code = "audit_chain_broken"
