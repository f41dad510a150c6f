"""Company: the registered domain (tldextract's bundled suffix list, never
fetched) from the lead's company domain or a work email, and a hint the
service uses to find or create the company and link it (through
``companies.service.find_or_create``, as every lead write does)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadbase.dedupe.normalise import name_from_domain, registered_domain
from leadbase.enrichment.providers.base import BaseProvider, StepContext
from leadbase.enrichment.providers.email import domain_of, is_disposable, is_free_mail
from leadbase.enrichment.schemas import CompanyHint, Found, ProviderResult

__all__ = ["CompanyProvider", "name_from_domain", "registered_domain"]


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
