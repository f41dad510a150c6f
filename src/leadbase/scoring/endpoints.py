"""/api/v1/scoring: the rules in effect, a rescoring run, a lead's score."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from leadbase.auth.endpoints import get_principal, require_role
from leadbase.auth.service import Principal
from leadbase.http.support import Envelope, database, write
from leadbase.scoring import service
from leadbase.scoring.schemas import LeadScore, ScoringRules, ScoringRun

router = APIRouter(prefix="/api/v1/scoring", tags=["scoring"])
Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]


@router.get("/rules", response_model=Envelope[ScoringRules])
def scoring_rules(request: Request, _principal: Reader) -> Envelope[ScoringRules]:
    """The rules in effect (the built-in ones, changed by LEADBASE_SCORING_RULES)."""
    settings = database(request).settings
    rules = service.rules_in_effect(settings=settings)
    source = str(settings.scoring_rules) if settings.scoring_rules else "built-in"
    return Envelope(data=ScoringRules(digest=rules.digest, source=source, rules=rules.as_dict()))


@router.post("/run", status_code=202, response_model=Envelope[ScoringRun])
async def run_scoring(request: Request, principal: Editor) -> Envelope[ScoringRun]:
    """Queue one job that scores every active lead again (after a change of
    the rules, say); follow it at /api/v1/jobs/{job_id}."""
    service.rules_in_effect(settings=database(request).settings)  # a bad file: 422 now
    job_id = await write(request, principal, service.queue_all)
    return Envelope(data=ScoringRun(job_id=job_id))


@router.get("/leads/{lead_id}", response_model=Envelope[LeadScore])
def lead_score(request: Request, _principal: Reader, lead_id: str) -> Envelope[LeadScore]:
    """A lead's stored score and its explanation (each rule's points and reason)."""
    with database(request).read_session(single_statement=True) as session:
        found = service.stored(session, lead_id)
    return Envelope(data=LeadScore(**found))
