"""/api/v1/users: user administration for admins. (Filled in by the users API work.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/users", tags=["users"])
