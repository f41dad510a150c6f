"""Auth errors: the API renders them as 401 / 403 in the usual envelope."""

from __future__ import annotations

from leadbase.errors import LeadbaseError


class AuthenticationError(LeadbaseError):
    """No valid credentials. The message never says which part was wrong."""

    status_code = 401
    code = "unauthorized"


class RefreshTokenReusedError(AuthenticationError):
    """A rotated refresh token came back: its family was revoked in the session.

    The caller must still commit that session, or the revocation is lost.
    """


class PermissionDeniedError(LeadbaseError):
    status_code = 403
    code = "forbidden"
