"""Webhook: POST the lead to a configured URL and take the fields it returns.

This is the door for Clay, n8n or a paid API behind the user's own proxy.
The answer is a JSON object: lead fields at the top level, or under
``"fields"``, with optional ``"company"`` (a company hint), ``"flags"`` and
``"confidence"`` (0..1). Fields we do not know are ignored (and listed in
the flags); values that fail our validators make the whole answer junk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from leadbase.enrichment.providers.base import (
    BaseProvider,
    JunkResponse,
    ProviderError,
    Skipped,
    StepContext,
    TransientError,
    tls_context,
)
from leadbase.enrichment.schemas import (
    COMPANY_HINT_FIELDS,
    ENRICHABLE_FIELDS,
    CompanyHint,
    Found,
    ProviderResult,
    is_empty,
)

SENT_FIELDS = ("id", *sorted(ENRICHABLE_FIELDS), "tags", "source")
RESERVED_KEYS = ("fields", "company", "flags", "confidence")


def _json_safe(lead: Mapping[str, Any]) -> dict[str, Any]:
    picked = {k: lead.get(k) for k in SENT_FIELDS if lead.get(k) is not None}
    loaded: dict[str, Any] = json.loads(json.dumps(picked, default=str))
    return loaded


class WebhookProvider(BaseProvider):
    name = "webhook"
    confidence = 0.9

    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.url = url
        self.token = token

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None:
        url = self.url or ctx.settings.enrichment_webhook_url
        if not url:
            raise Skipped("no enrichment_webhook_url is configured")
        token = self.token or ctx.settings.enrichment_webhook_token
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"lead": _json_safe(lead), "flags": dict(ctx.flags)}, default=str)
        with (
            httpx.Client(follow_redirects=False, verify=tls_context()) as client,
            client.stream(
                "POST", url, content=body, headers=headers, timeout=ctx.remaining()
            ) as response,
        ):
            status = response.status_code
            if status in (408, 429) or status >= 500:
                raise TransientError(f"webhook answered HTTP {status}")
            if status >= 300:
                raise ProviderError(f"webhook answered HTTP {status}")
            if status == 204:
                return None
            raw = self._body(response, ctx.settings.website_max_bytes)
        return self._parse(raw)

    @staticmethod
    def _body(response: httpx.Response, limit: int) -> bytes:
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > limit:
                raise JunkResponse(f"webhook answer is larger than {limit} bytes")
        return bytes(data)

    def _parse(self, raw: bytes) -> ProviderResult | None:
        if not raw.strip():
            return None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise JunkResponse("webhook answer is not JSON") from None
        if not isinstance(answer, dict):
            raise JunkResponse(f"webhook answer is a JSON {type(answer).__name__}, not an object")
        fields = answer.get("fields")
        given: dict[str, Any] = fields if isinstance(fields, dict) else answer
        confidence = answer.get("confidence", self.confidence)
        if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise JunkResponse(f"webhook confidence {confidence!r} is not a number in 0..1")
        result = ProviderResult()
        ignored = sorted(k for k in given if k not in ENRICHABLE_FIELDS and k not in RESERVED_KEYS)
        for key, value in given.items():
            if key in ENRICHABLE_FIELDS and not is_empty(value):
                result.fields[key] = Found(value, float(confidence))
        if ignored:
            result.flags["webhook_ignored_fields"] = ignored
        if isinstance(answer.get("flags"), dict):
            result.flags["webhook"] = answer["flags"]
        result.company = self._company(answer.get("company"))
        return result

    @staticmethod
    def _company(value: Any) -> CompanyHint | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise JunkResponse("webhook company is not an object")
        hint: dict[str, Any] = {}
        for key in COMPANY_HINT_FIELDS:
            item = value.get(key)
            if key in ("emails", "phones"):
                if isinstance(item, list) and all(isinstance(i, str) for i in item):
                    hint[key] = tuple(item)
            elif isinstance(item, str) and item.strip():
                hint[key] = item.strip()
        return CompanyHint(**hint) if hint else None
