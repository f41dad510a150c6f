"""Company: the registered domain (tldextract's bundled suffix list, never
fetched) from the lead's company domain or a work email, and a hint the
service uses to find or create the company and link it."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import tldextract

from leadbase.dedupe import normalise as norm
from leadbase.enrichment.providers.base import BaseProvider, StepContext
from leadbase.enrichment.providers.email import domain_of, is_disposable, is_free_mail
from leadbase.enrichment.schemas import CompanyHint, Found, ProviderResult
from leadbase.errors import ValidationError

_extractor: tldextract.TLDExtract | None = None
_extractor_lock = threading.Lock()


def _extract() -> tldextract.TLDExtract:
    """The snapshot shipped with tldextract: no network, no cache directory."""
    global _extractor
    with _extractor_lock:
        if _extractor is None:
            _extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        return _extractor


def registered_domain(host: str) -> str | None:
    """``shop.acme.co.uk`` -> ``acme.co.uk``; None for hosts with no public suffix."""
    try:
        host = norm.normalise_domain(host)
    except ValidationError:
        return None
    parts = _extract()(host)
    if not parts.domain or not parts.suffix:
        return None
    return f"{parts.domain}.{parts.suffix}"


def name_from_domain(domain: str) -> str:
    """A placeholder name ("acme-labs.co.uk" -> "Acme Labs") until a better source says."""
    label = _extract()(domain).domain or domain
    return " ".join(word.capitalize() for word in label.replace("_", "-").split("-") if word)


class CompanyProvider(BaseProvider):
    name = "company"
    confidence = 0.9
    guessed_name_confidence = 0.3

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None:
        domain = self._domain(lead)
        if domain is None:
            return None
        result = ProviderResult()
        if lead.get("company_domain") != domain:
            result.fields["company_domain"] = Found(domain, self.confidence)
        name = lead.get("company_name")
        if not name:
            name = name_from_domain(domain)
            result.fields["company_name"] = Found(name, self.guessed_name_confidence)
        result.company = CompanyHint(domain=domain, name=str(name))
        return result

    @staticmethod
    def _domain(lead: Mapping[str, Any]) -> str | None:
        if lead.get("company_domain"):
            return registered_domain(str(lead["company_domain"]))
        email = lead.get("email")
        if not email:
            return None
        host = domain_of(str(email))
        if is_free_mail(host) or is_disposable(host):
            return None  # a gmail address says nothing about the employer
        return registered_domain(host)
