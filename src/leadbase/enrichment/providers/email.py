"""Email: syntax and normal form; free-mail, disposable and role-account
flags; MX deliverability over DNS (dnspython, nameserver from settings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dns.exception
import dns.name
import dns.resolver
from disposable_email_domains import blocklist

from leadbase.config import Settings
from leadbase.dedupe import normalise as norm
from leadbase.enrichment.providers.base import (
    BaseProvider,
    ProviderTimeout,
    StepContext,
    TransientError,
)
from leadbase.enrichment.schemas import Found, ProviderResult
from leadbase.errors import ValidationError

# Mailbox providers anyone can sign up to: an address there says nothing about
# the employer. Whole domains; regional variants are listed where common.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "live.com",
        "live.co.uk",
        "live.fr",
        "live.de",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "yahoo.it",
        "yahoo.co.jp",
        "yahoo.com.br",
        "yahoo.co.in",
        "ymail.com",
        "rocketmail.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "t-online.de",
        "freenet.de",
        "yandex.com",
        "yandex.ru",
        "ya.ru",
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "rambler.ru",
        "zoho.com",
        "zohomail.com",
        "mail.com",
        "fastmail.com",
        "fastmail.fm",
        "hey.com",
        "tutanota.com",
        "tuta.io",
        "laposte.net",
        "orange.fr",
        "free.fr",
        "wanadoo.fr",
        "libero.it",
        "virgilio.it",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "rediffmail.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "btinternet.com",
        "sky.com",
        "bluewin.ch",
    }
)

# Local parts that name a function, not a person.
ROLE_ACCOUNTS: frozenset[str] = frozenset(
    {
        "admin",
        "administrator",
        "accounts",
        "billing",
        "careers",
        "contact",
        "enquiries",
        "events",
        "finance",
        "hello",
        "help",
        "hi",
        "hr",
        "info",
        "inquiries",
        "jobs",
        "legal",
        "mail",
        "marketing",
        "media",
        "no-reply",
        "noreply",
        "office",
        "orders",
        "partners",
        "postmaster",
        "press",
        "privacy",
        "recruiting",
        "sales",
        "security",
        "service",
        "support",
        "team",
        "webmaster",
    }
)


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()


def is_free_mail(domain: str) -> bool:
    return domain in FREE_MAIL_DOMAINS


def is_disposable(domain: str) -> bool:
    """On the maintained list, or a subdomain of a domain on it."""
    labels = domain.split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))


def is_role_account(email: str) -> bool:
    local = email.partition("@")[0].lower().split("+", 1)[0]
    return local in ROLE_ACCOUNTS


def resolver_for(settings: Settings, lifetime: float) -> dns.resolver.Resolver:
    """The system resolver, or the configured nameservers (tests: 127.0.0.1)."""
    if settings.dns_nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(settings.dns_nameservers)
    else:
        resolver = dns.resolver.Resolver()
    resolver.port = settings.dns_port
    resolver.lifetime = lifetime
    resolver.timeout = lifetime
    return resolver


def mx_check(domain: str, settings: Settings, lifetime: float) -> dict[str, Any]:
    """Can this domain receive mail? MX hosts, or (RFC 5321) an address record
    standing in for them; a "null MX" (RFC 7505) says it accepts none."""
    resolver = resolver_for(settings, lifetime)
    try:
        answer = resolver.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN:
        return {"mx_ok": False, "mx_reason": "domain does not exist"}
    except dns.resolver.NoAnswer:
        return _implicit_mx(resolver, domain)
    hosts = sorted((int(r.preference), r.exchange.to_text(omit_final_dot=True)) for r in answer)
    if all(host in ("", ".") for _, host in hosts):
        return {"mx_ok": False, "mx_reason": "null MX: the domain accepts no mail"}
    return {"mx_ok": True, "mx_hosts": [host for _, host in hosts if host not in ("", ".")]}


def _implicit_mx(resolver: dns.resolver.Resolver, domain: str) -> dict[str, Any]:
    for rdtype in ("A", "AAAA"):
        try:
            resolver.resolve(domain, rdtype)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        return {"mx_ok": True, "mx_hosts": [domain], "mx_reason": "no MX; address record"}
    return {"mx_ok": False, "mx_reason": "no MX or address record"}


class EmailProvider(BaseProvider):
    name = "email"
    confidence = 1.0

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None:
        raw = lead.get("email")
        if not raw:
            return None
        try:
            email = norm.normalise_email(str(raw))
        except ValidationError as exc:
            return ProviderResult(flags={"email_valid": False, "email_error": exc.message})
        domain = domain_of(email)
        result = ProviderResult(
            flags={
                "email_valid": True,
                "free_mail": is_free_mail(domain),
                "disposable": is_disposable(domain),
                "role_account": is_role_account(email),
            }
        )
        if email != raw:
            result.fields["email"] = Found(email, self.confidence)
        try:
            result.flags.update(mx_check(domain, ctx.settings, ctx.remaining()))
        except dns.exception.Timeout:
            raise ProviderTimeout(f"MX lookup for {domain} timed out", partial=result) from None
        except dns.exception.DNSException as exc:  # SERVFAIL, refused, bad answers
            raise TransientError(f"MX lookup for {domain} failed: {exc}", partial=result) from None
        return result
