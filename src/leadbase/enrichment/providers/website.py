"""Website: fetch the company's homepage and read what it says about itself.

Fetching is careful because the address comes from lead data: only http and
https; every hop's host is resolved once and refused when any of its
addresses is private, loopback, link-local or reserved (unless
``allow_private_network_fetch``), and the connection goes to those checked
addresses, never to a second lookup's (DNS rebinding); redirects are
followed by hand, at most ``website_max_redirects``, each hop checked the
same way; the body is streamed and cut at ``website_max_bytes``; only
HTML is read; every call has the step's timeout and the whole fetch its
deadline.

Reading uses the page's own structured data first (JSON-LD Organization,
Open Graph), then its title, description, footer links (``mailto:``,
``tel:``, LinkedIn) and language.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import dns.exception
import dns.resolver
import httpx

from leadbase.config import Settings
from leadbase.dedupe import normalise as norm
from leadbase.enrichment.providers.base import (
    BaseProvider,
    JunkResponse,
    ProviderError,
    ProviderTimeout,
    StepContext,
    TransientError,
    tls_context,
)
from leadbase.enrichment.providers.email import is_disposable, resolver_for
from leadbase.enrichment.providers.phone import region_for
from leadbase.enrichment.schemas import CompanyHint, Found, ProviderResult
from leadbase.errors import ValidationError

USER_AGENT = "leadbase-enrichment/1 (+https://github.com/leadbase)"
HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_DESCRIPTION = 2000
MAX_CONTACTS = 10
_ORG_TYPES = re.compile(r"(Organization|Corporation|Business|Company|Store|NGO)$")
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_TITLE_SEPARATORS = re.compile(r"\s+[|\-\u2013\u2014:\u00b7\u2022]\s+")  # bars, dashes, dots
_LOCALE = re.compile(r"^[a-z]{2,3}[_-]([A-Za-z]{2})$")


# --- fetching ------------------------------------------------------------------------

# The request extension that carries a hop's vetted addresses to the transport.
PINNED = "leadbase.pinned_addresses"


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    text: str
    truncated: bool
    redirects: int


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, and the addresses its host resolved to
    when it was checked: the only ones a fetch of it may connect to."""

    url: httpx.URL
    host: str  # ASCII (punycode) host name, or the IP literal
    addresses: tuple[str, ...]


def default_urls(domain: str) -> list[str]:
    return [f"https://{domain}/", f"http://{domain}/"]


def check_target(
    url: str, allow_private: bool, settings: Settings | None = None, timeout: float = 5.0
) -> Target:
    """Refuse what the fetcher must not reach: other schemes, and (unless
    allowed) hosts that resolve to anything but public unicast addresses.
    The host is resolved here, once (through ``settings.dns_nameservers``
    when set, else the system resolver); the fetch connects to these very
    addresses, so a DNS answer that changes afterwards (rebinding) is never
    used."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ProviderError(f"not a fetchable URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise ProviderError(f"refusing a {parsed.scheme or 'schemeless'} URL: {url!r}")
    if not parsed.raw_host:
        raise ProviderError(f"no host in {url!r}")
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = resolve(host, port, settings, timeout)
    if not allow_private:
        for address in addresses:
            _refuse_non_public(host, address)
    return Target(parsed, host, addresses)


def _refuse_non_public(host: str, text: str) -> None:
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        raise ProviderError(f"refusing {host}: it resolves to non-public address {address}")


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def resolve(host: str, port: int, settings: Settings | None, timeout: float) -> tuple[str, ...]:
    """Every address ``host`` has, in the resolver's order (an IP literal is itself)."""
    literal = _literal(host)
    if literal is not None:
        return (literal,)
    if settings is not None and settings.dns_nameservers:
        addresses = _resolve_with_dns(host, settings, timeout)
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ProviderError(f"cannot resolve {host}: {exc}") from None
        # A scope (fe80::1%eth0) only names the interface; the address is what is vetted.
        addresses = [str(info[4][0]).split("%", 1)[0] for info in infos]
    if not addresses:
        raise ProviderError(f"cannot resolve {host}: no addresses")
    return tuple(dict.fromkeys(addresses))


def _resolve_with_dns(host: str, settings: Settings, timeout: float) -> list[str]:
    resolver = resolver_for(settings, timeout)
    found: list[str] = []
    try:
        for rdtype in ("A", "AAAA"):
            answer = resolver.resolve(host, rdtype, raise_on_no_answer=False)
            found += [record.to_text() for record in answer.rrset or ()]
    except dns.resolver.NXDOMAIN:
        raise ProviderError(f"cannot resolve {host}: no such name") from None
    except dns.exception.Timeout:
        raise  # the pipeline counts it as a timeout (and retries)
    except dns.exception.DNSException as exc:  # SERVFAIL, refused, bad answers
        raise TransientError(f"cannot resolve {host}: {exc}") from None
    return found


class PinnedTransport(httpx.BaseTransport):
    """Sends each request to the addresses its host was vetted at.

    httpx would resolve the host again when it connects, and a DNS answer
    that changed since the check (rebinding: public at check time, 127.0.0.1
    a moment later) would be used unchecked. So the request's URL is
    rewritten to the vetted IP for the connection only; the Host header
    stays the name (httpx set it from the original URL), TLS sends the name
    as SNI and checks the certificate against it (httpcore's documented
    ``sni_hostname`` extension sets ``server_hostname``), and the response
    keeps the original request, hence the original URL. A request without
    vetted addresses is refused rather than resolved here.

    Connections are pooled per (scheme, host name, port, address): never
    shared between two names on one IP, whose TLS checks differ."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str, int | None, str], httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        addresses: tuple[str, ...] = request.extensions.get(PINNED, ())
        if not addresses:
            raise ProviderError(f"refusing {request.url}: its host was not checked")
        host = request.url.raw_host.decode("ascii")
        extensions = {k: v for k, v in request.extensions.items() if k != PINNED}
        extensions["sni_hostname"] = host
        error: httpx.ConnectError | None = None
        for address in addresses:  # like socket.create_connection: the next on refusal
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return self._pool(request.url, host, address).handle_request(pinned)
            except httpx.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    def _pool(self, url: httpx.URL, host: str, address: str) -> httpx.HTTPTransport:
        key = (url.scheme, host, url.port, address)
        if key not in self._pools:
            self._pools[key] = httpx.HTTPTransport(verify=tls_context(), trust_env=False)
        return self._pools[key]

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def fetch(url: str, settings: Settings, ctx: StepContext) -> Page:
    """GET one page under every limit in the module docstring."""
    redirects = 0
    headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"}
    # trust_env=False: a proxy from the environment would make the address checks moot.
    with httpx.Client(
        headers=headers, follow_redirects=False, trust_env=False, transport=PinnedTransport()
    ) as client:
        while True:
            # Every hop is resolved and checked on its own, and fetched from what was checked.
            target = check_target(
                url, settings.allow_private_network_fetch, settings, ctx.remaining()
            )
            with client.stream(
                "GET",
                target.url,
                timeout=httpx.Timeout(ctx.remaining()),
                extensions={PINNED: target.addresses},
            ) as response:
                if response.is_redirect:
                    redirects += 1
                    if redirects > settings.website_max_redirects:
                        raise ProviderError(f"more than {settings.website_max_redirects} redirects")
                    location = response.headers.get("location")
                    if not location:
                        raise ProviderError(f"redirect without a Location from {url}")
                    url = str(response.url.join(location))
                    continue
                return _read(response, settings, ctx, redirects)


def _read(response: httpx.Response, settings: Settings, ctx: StepContext, redirects: int) -> Page:
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientError(f"{response.url} answered HTTP {status}")
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if status < 400 and content_type not in HTML_TYPES:
        raise JunkResponse(f"{response.url} is {content_type or 'untyped'}, not HTML")
    body = bytearray()
    truncated = False
    for chunk in response.iter_bytes():
        if time.monotonic() > ctx.deadline:
            # A page dripping a byte at a time never trips the read timeout.
            raise ProviderTimeout(f"{response.url} took longer than the step allows")
        body += chunk
        if len(body) >= settings.website_max_bytes:
            del body[settings.website_max_bytes :]
            truncated = True
            break
    try:
        text = body.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = body.decode("utf-8", errors="replace")
    return Page(str(response.url), status, text, truncated, redirects)


# --- reading -------------------------------------------------------------------------


@dataclass
class PageFacts:
    title: str | None = None
    lang: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    json_ld: list[Any] = field(default_factory=list)
    mailto: list[str] = field(default_factory=list)
    tel: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


class _HomepageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = PageFacts()
        self._in: str | None = None  # "title" or "ld" while inside one
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "html" and a.get("lang"):
            self.facts.lang = a["lang"]
        elif tag == "title" and self.facts.title is None:
            self._in, self._buffer = "title", []
        elif tag == "script" and a.get("type", "").lower() == "application/ld+json":
            self._in, self._buffer = "ld", []
        elif tag == "meta":
            key = (a.get("property") or a.get("name") or "").lower()
            if key and a.get("content") and key not in self.facts.meta:
                self.facts.meta[key] = a["content"]
        elif tag == "a" and a.get("href"):
            self._link(a["href"].strip())

    def _link(self, href: str) -> None:
        lower = href.lower()
        if lower.startswith("mailto:"):
            self.facts.mailto.append(unquote(href[7:].split("?", 1)[0]))
        elif lower.startswith("tel:"):
            self.facts.tel.append(unquote(href[4:]))
        else:
            self.facts.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if self._in == "title" and tag == "title":
            self.facts.title = norm.clean_text(" ".join(self._buffer))
            self._in = None
        elif self._in == "ld" and tag == "script":
            # Broken JSON-LD is common; the rest of the page still counts.
            with contextlib.suppress(ValueError):
                self.facts.json_ld.append(json.loads("".join(self._buffer)))
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._buffer.append(data)
        elif "@" in data:
            self.facts.text.append(data)


def parse_page(html: str) -> PageFacts:
    parser = _HomepageParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser gives up on some garbage; keep what it read
        pass
    return parser.facts


def _walk_json_ld(node: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    if depth > 8:  # real pages nest two or three levels; a hostile one, a thousand
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk_json_ld(item, depth + 1)
    elif isinstance(node, Mapping):
        yield node
        if "@graph" in node:
            yield from _walk_json_ld(node["@graph"], depth + 1)


def _types(node: Mapping[str, Any]) -> list[str]:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return [k for k in kinds if isinstance(k, str)]


def organisation(facts: PageFacts) -> Mapping[str, Any]:
    """The first JSON-LD node that describes an organisation, or {}."""
    for root in facts.json_ld:
        for node in _walk_json_ld(root):
            if any(_ORG_TYPES.search(kind) for kind in _types(node)):
                return node
    return {}


def _text(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name") or value.get("@value")
    if isinstance(value, list) and value:
        value = value[0]
    return norm.clean_text(value) if isinstance(value, str) else None


def _strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str)]


def site_name(facts: PageFacts, org: Mapping[str, Any], domain: str) -> tuple[str, float] | None:
    """The company's name as its site gives it, and how sure we are."""
    for value, confidence in (
        (_text(org.get("name")), 0.85),
        (norm.clean_text(facts.meta.get("og:site_name")), 0.8),
        (norm.clean_text(facts.meta.get("application-name")), 0.6),
    ):
        if value:
            return value[:255], confidence
    if not facts.title:
        return None
    parts = [p for p in _TITLE_SEPARATORS.split(facts.title) if p.strip()]
    label = domain.split(".", 1)[0].replace("-", "").lower()
    for part in parts:  # "Home | Acme Robotics": the part that looks like the domain
        if label and label in part.replace(" ", "").replace("-", "").lower():
            return part.strip()[:255], 0.6
    return parts[0].strip()[:255], 0.4


def description(facts: PageFacts, org: Mapping[str, Any]) -> str | None:
    for value in (
        _text(org.get("description")),
        norm.clean_text(facts.meta.get("og:description")),
        norm.clean_text(facts.meta.get("description")),
    ):
        if value:
            return value[:MAX_DESCRIPTION]
    return None


def company_linkedin(facts: PageFacts, org: Mapping[str, Any]) -> str | None:
    for href in [*_strings(org.get("sameAs")), *facts.links]:
        if "linkedin.com/" not in href.lower():
            continue
        try:
            url = norm.normalise_linkedin_url(href)
        except ValidationError:
            continue
        if "/in/" not in url:  # a person's profile in a footer is not the company
            return url
    return None


def country_hint(facts: PageFacts, org: Mapping[str, Any]) -> tuple[str, str] | None:
    """(country, source): the postal address first, then locale, then language."""
    address = org.get("address")
    for addr in address if isinstance(address, list) else [address]:
        if isinstance(addr, Mapping):
            country = _text(addr.get("addressCountry"))
            if country:
                return (country.upper() if len(country) == 2 else country[:100]), "address"
    for source, value in (("og:locale", facts.meta.get("og:locale")), ("lang", facts.lang)):
        match = _LOCALE.match((value or "").strip())
        if match:
            return match.group(1).upper(), source
    return None


def city_hint(org: Mapping[str, Any]) -> str | None:
    address = org.get("address")
    for addr in address if isinstance(address, list) else [address]:
        if isinstance(addr, Mapping):
            city = _text(addr.get("addressLocality"))
            if city:
                return city[:100]
    return None


def _contact_points(org: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    points = org.get("contactPoint")
    nodes = [org, *(points if isinstance(points, list) else [points])]
    return [n for n in nodes if isinstance(n, Mapping)]


def contact_emails(facts: PageFacts, org: Mapping[str, Any], domain: str) -> list[str]:
    """Addresses at the company's own domain (a footer also links other people's)."""
    found: list[str] = []
    candidates = [*(e for n in _contact_points(org) for e in _strings(n.get("email")))]
    candidates += facts.mailto
    candidates += [m for text in facts.text for m in _EMAIL_IN_TEXT.findall(text)]
    for raw in candidates:
        try:
            email = norm.normalise_email(raw.removeprefix("mailto:"))
        except ValidationError:
            continue
        host = email.rpartition("@")[2]
        if (host == domain or host.endswith("." + domain)) and not is_disposable(host):
            found.append(email)
    return list(dict.fromkeys(found))[:MAX_CONTACTS]


def contact_phones(facts: PageFacts, org: Mapping[str, Any], region: str) -> list[str]:
    found: list[str] = []
    raw = [t for n in _contact_points(org) for t in _strings(n.get("telephone"))] + facts.tel
    for value in raw:
        try:
            found.append(norm.normalise_phone(value, region))
        except ValidationError:
            continue  # page text, not a provider's answer: skip what is not a number
    return list(dict.fromkeys(found))[:MAX_CONTACTS]


# --- the provider --------------------------------------------------------------------


class WebsiteProvider(BaseProvider):
    name = "website"
    confidence = 0.8

    def __init__(self, urls_for: Callable[[str], Sequence[str]] = default_urls) -> None:
        # Tests point this at a local server; by default https first, then http.
        self.urls_for = urls_for

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None:
        domain = lead.get("company_domain")
        if not domain:
            return None
        page = self._homepage(str(domain), ctx)
        flags: dict[str, Any] = {"website_url": page.url, "website_status": page.status}
        if page.truncated:
            flags["website_truncated"] = True
        if page.status >= 400:  # the site is up but has no homepage for us
            return ProviderResult(flags=flags, no_data=True)
        return self._read(page, str(domain), lead, ctx, flags)

    def _homepage(self, domain: str, ctx: StepContext) -> Page:
        error: Exception | None = None
        for url in self.urls_for(domain):
            try:
                return fetch(url, ctx.settings, ctx)
            except (httpx.ConnectError, ProviderError) as exc:
                error = exc  # no https listener, say: the next URL may work
        assert error is not None
        raise error

    def _read(
        self,
        page: Page,
        domain: str,
        lead: Mapping[str, Any],
        ctx: StepContext,
        flags: dict[str, Any],
    ) -> ProviderResult:
        facts = parse_page(page.text)
        org = organisation(facts)
        name = site_name(facts, org, domain)
        country = country_hint(facts, org)
        region = region_for(
            {"country": country[0] if country else lead.get("country")},
            ctx.settings.default_phone_region,
        )
        emails = contact_emails(facts, org, domain)
        phones = contact_phones(facts, org, region)
        hint = CompanyHint(
            domain=domain,
            name=name[0] if name else None,
            description=description(facts, org),
            website=page.url,
            linkedin_url=company_linkedin(facts, org),
            country=country[0] if country else None,
            city=city_hint(org),
            emails=tuple(emails),
            phones=tuple(phones),
        )
        result = ProviderResult(flags=flags)
        if name:
            result.fields["company_name"] = Found(name[0], name[1])
        if emails:
            result.fields["additional_emails"] = Found(emails, 0.5)
        if phones:
            result.fields["additional_phones"] = Found(phones, 0.5)
        if country and country[1] == "address":
            result.fields["country"] = Found(country[0], 0.5)
        if country:
            flags["country_hint"] = {"value": country[0], "source": country[1]}
        if any(v for k, v in hint.to_json().items() if k not in ("domain", "website")):
            result.company = hint
        # A page with nothing we could read (a parked domain, garbage) is no data.
        result.no_data = not result.fields and result.company is None
        return result
