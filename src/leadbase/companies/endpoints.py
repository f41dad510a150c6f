"""/api/v1/companies. (Filled in by the companies API work.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/companies", tags=["companies"])
