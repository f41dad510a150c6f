"""/api/v1/duplicates, and merging and unmerging leads and companies."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from leadbase.auth.endpoints import get_principal, require_role
from leadbase.auth.service import Principal
from leadbase.companies.schemas import ID_PATTERN, CompanyOut
from leadbase.db import UnitOfWork
from leadbase.dedupe import repository
from leadbase.duplicates import service
from leadbase.duplicates.schemas import (
    ClusterOut,
    ClusterPage,
    CompanyMergeResult,
    LeadMergeInput,
    LeadMergeResult,
    MergeInput,
    MergeOut,
)
from leadbase.errors import NotFoundError
from leadbase.http.support import Envelope, database, write
from leadbase.leads import repository as leads_repository
from leadbase.leads.schemas import LeadOut
from leadbase.models import Company, Merge

MAX_PAGE = 500

router = APIRouter(prefix="/api/v1", tags=["duplicates"])
Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]
PathId = Annotated[str, Path(pattern=ID_PATTERN)]


# --- clusters --------------------------------------------------------------------------


@router.get("/duplicates", response_model=Envelope[ClusterPage])
def list_duplicates(
    request: Request,
    _principal: Reader,
    status: Annotated[
        Literal["open", "dismissed", "merged", "all"],
        Query(description="Clusters in this state (all: any state)"),
    ] = "open",
    action: Annotated[
        Literal["merge", "review"] | None,
        Query(description="merge: at or above the automatic threshold; review: below it"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="data.next_cursor of the last page")
    ] = None,
) -> Envelope[ClusterPage]:
    """Stored duplicate clusters (from ``leadbase dedupe scan`` and from
    writes), best first: highest score, then id. Pass ``data.next_cursor``
    back as ``cursor`` with the same filters for the next page."""
    with database(request).read_session() as session:
        page = service.list_clusters(
            session,
            status=None if status == "all" else status,
            action=action,
            limit=limit,
            after=cursor,
        )
        items = [ClusterOut.of(cluster) for cluster in page.items]
    return Envelope(data=ClusterPage(items=items, next_cursor=page.next_after))


@router.get("/duplicates/{cluster_id}", response_model=Envelope[ClusterOut])
def get_duplicates(
    request: Request, _principal: Reader, cluster_id: PathId
) -> Envelope[ClusterOut]:
    with database(request).read_session() as session:
        return Envelope(data=ClusterOut.of(service.get_cluster(session, cluster_id)))


@router.post("/duplicates/{cluster_id}/dismiss", response_model=Envelope[ClusterOut])
async def dismiss_duplicates(
    request: Request, principal: Editor, cluster_id: PathId
) -> Envelope[ClusterOut]:
    """Not duplicates: the cluster is dismissed, and its leads are never
    joined again by later scans or writes. Dismissing a dismissed cluster
    changes nothing; a merged one is a 409."""
    cluster = await write(
        request,
        principal,
        lambda uow: ClusterOut.of(service.dismiss_cluster(uow, cluster_id)),
    )
    return Envelope(data=cluster)


# --- leads -----------------------------------------------------------------------------


def _lead_result(uow: UnitOfWork, merge: Merge) -> LeadMergeResult:
    ids = [merge.survivor_id, *merge.merged_ids]
    rows = [leads_repository.row_by_id(uow.session, i, include_deleted=True) for i in ids]
    return LeadMergeResult(
        merge=MergeOut.of(merge),
        leads=[LeadOut.model_validate(dict(row)) for row in rows if row is not None],
    )


@router.post("/leads/merge", response_model=Envelope[LeadMergeResult])
async def merge_leads(
    request: Request, principal: Editor, payload: LeadMergeInput
) -> Envelope[LeadMergeResult]:
    """Merge ``merged_ids`` into ``survivor_id`` in one transaction.

    The survivor takes, field by field, the best value (a choice in
    ``choices`` first; then non-empty over empty, verified over unverified,
    typed over enrichment; the most advanced status; tags unioned; other
    emails and phones into ``additional_*``) and every event and source of
    the merged leads. The merged leads keep their rows with
    ``merged_into_id`` set; every value the survivor did not take is in
    ``data.merge.kept``. Undo with ``POST /leads/{id}/unmerge``.

    404: a lead (or the cluster) does not exist; 409: a lead was merged
    already, or changed since the version given in ``versions``; 422: bad
    input, the field named."""

    def work(uow: UnitOfWork) -> LeadMergeResult:
        merge = service.merge_leads(
            uow,
            payload.survivor_id,
            payload.merged_ids,
            payload.choices,
            cluster_id=payload.cluster_id,
            expected_versions=payload.versions,
        )
        return _lead_result(uow, merge)

    return Envelope(data=await write(request, principal, work))


@router.post("/leads/{lead_id}/unmerge", response_model=Envelope[LeadMergeResult])
async def unmerge_lead(
    request: Request, principal: Editor, lead_id: PathId
) -> Envelope[LeadMergeResult]:
    """Undo the latest merge this lead (survivor or merged) took part in:
    every lead, event and source goes back exactly as it was before it.

    409 when that merge was undone already, or when one of its leads
    changed since (undoing it would lose the change)."""
    return Envelope(
        data=await write(
            request, principal, lambda uow: _lead_result(uow, service.unmerge(uow, lead_id))
        )
    )


def _known_lead(request: Request, lead_id: str) -> None:
    with database(request).read_session(single_statement=True) as session:
        if leads_repository.row_by_id(session, lead_id, include_deleted=True) is None:
            raise NotFoundError(f"lead {lead_id} not found")


@router.get("/leads/{lead_id}/duplicates", response_model=Envelope[list[ClusterOut]])
def lead_duplicates(
    request: Request, _principal: Reader, lead_id: PathId
) -> Envelope[list[ClusterOut]]:
    """The open clusters this lead is in: its possible duplicates, best first."""
    _known_lead(request, lead_id)
    with database(request).read_session() as session:
        clusters = service.clusters_for_lead(session, lead_id)
        return Envelope(data=[ClusterOut.of(cluster) for cluster in clusters])


@router.get("/leads/{lead_id}/merges", response_model=Envelope[list[MergeOut]])
def lead_merges(request: Request, _principal: Reader, lead_id: PathId) -> Envelope[list[MergeOut]]:
    """Every merge this lead took part in, as survivor or merged, newest
    first; undone ones too (``undone_at``)."""
    _known_lead(request, lead_id)
    with database(request).read_session() as session:
        merges = service.merges_for_lead(session, lead_id)
        return Envelope(data=[MergeOut.of(merge) for merge in merges])


# --- companies -------------------------------------------------------------------------


def _company_result(uow: UnitOfWork, merge: Merge) -> CompanyMergeResult:
    ids = [merge.survivor_id, *merge.merged_ids]
    rows = repository.rows_by_id(uow.session, Company, ids)
    return CompanyMergeResult(
        merge=MergeOut.of(merge),
        companies=[CompanyOut.model_validate(dict(rows[i])) for i in ids if i in rows],
    )


@router.post("/companies/merge", response_model=Envelope[CompanyMergeResult])
async def merge_companies(
    request: Request, principal: Editor, payload: MergeInput
) -> Envelope[CompanyMergeResult]:
    """Merge companies: the survivor keeps its values and fills its empty
    fields from the others (``choices`` pick others), tags unioned; every
    lead of a merged company moves to the survivor. Undo with
    ``POST /companies/{id}/unmerge``."""

    def work(uow: UnitOfWork) -> CompanyMergeResult:
        merge = service.merge_companies(
            uow,
            payload.survivor_id,
            payload.merged_ids,
            payload.choices,
            expected_versions=payload.versions,
        )
        return _company_result(uow, merge)

    return Envelope(data=await write(request, principal, work))


@router.post("/companies/{company_id}/unmerge", response_model=Envelope[CompanyMergeResult])
async def unmerge_company(
    request: Request, principal: Editor, company_id: PathId
) -> Envelope[CompanyMergeResult]:
    """Undo the latest merge this company took part in: the companies and
    their leads go back exactly as they were. 409 when one changed since."""
    return Envelope(
        data=await write(
            request,
            principal,
            lambda uow: _company_result(uow, service.unmerge_company(uow, company_id)),
        )
    )
