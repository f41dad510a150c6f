"""Providers by name: the waterfall's order comes from settings, the code from here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from leadbase.enrichment.providers.base import Provider
from leadbase.enrichment.providers.company import CompanyProvider
from leadbase.enrichment.providers.email import EmailProvider
from leadbase.enrichment.providers.person import PersonProvider
from leadbase.enrichment.providers.phone import PhoneProvider
from leadbase.enrichment.providers.webhook import WebhookProvider
from leadbase.enrichment.providers.website import WebsiteProvider
from leadbase.enrichment.schemas import TRUST

Factory = Callable[[], Provider]

_REGISTRY: dict[str, Factory] = {
    "email": EmailProvider,
    "person": PersonProvider,
    "phone": PhoneProvider,
    "company": CompanyProvider,
    "website": WebsiteProvider,
    "webhook": WebhookProvider,
}


def register(name: str, factory: Factory, *, trust: int | None = None) -> None:
    """Add (or replace) a provider; ``trust`` ranks its values against others'
    (see schemas.TRUST; an unranked newcomer gets 0, below every built-in)."""
    _REGISTRY[name] = factory
    if trust is not None:
        TRUST[name] = trust


def names() -> list[str]:
    return sorted(_REGISTRY)


def build(wanted: Sequence[str]) -> list[Provider | str]:
    """Providers in the order given; an unknown name stays a string, and the
    pipeline records it as a failed step rather than failing the run."""
    return [_REGISTRY[name]() if name in _REGISTRY else name for name in wanted]


__all__ = ["Provider", "build", "names", "register"]
