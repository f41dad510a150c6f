"""/api/v1/scoring/model: the learned model in use and how good it is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from leadbase.auth.endpoints import get_principal
from leadbase.auth.service import Principal
from leadbase.errors import NotFoundError
from leadbase.http.support import Envelope, database
from leadbase.scoring import learned
from leadbase.scoring.model_schemas import ScoringModelOut

router = APIRouter(prefix="/api/v1/scoring", tags=["scoring"])
Reader = Annotated[Principal, Depends(get_principal)]

NO_MODEL = "no scoring model has been trained yet: run `leadbase score train`"


@router.get("/model", response_model=Envelope[ScoringModelOut])
def get_model(request: Request, _principal: Reader) -> Envelope[ScoringModelOut]:
    """The active learned model: version, algorithm, features and held-out
    metrics (AUC of both algorithms, calibration, Brier score, counts)."""
    with database(request).read_session(single_statement=True) as session:
        row = learned.active_row(session)
        out = ScoringModelOut.model_validate(row) if row is not None else None
    if out is None:
        raise NotFoundError(NO_MODEL)
    return Envelope(data=out)
