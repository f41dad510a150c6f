"""Phone: E.164 form, country and line type (phonenumbers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType

from leadbase.enrichment.providers.base import BaseProvider, StepContext
from leadbase.enrichment.schemas import Found, ProviderResult

_LINE_TYPES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}


def region_for(lead: Mapping[str, Any], default: str) -> str:
    """A two-letter country on the lead, else the configured default."""
    country = lead.get("country")
    if isinstance(country, str) and len(country) == 2 and country.isalpha():
        return country.upper()
    return default


class PhoneProvider(BaseProvider):
    name = "phone"
    confidence = 0.9

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None:
        raw = lead.get("phone")
        if not raw:
            return None
        region = region_for(lead, ctx.settings.default_phone_region)
        try:
            number = phonenumbers.parse(str(raw), region)
        except phonenumbers.NumberParseException as exc:
            return ProviderResult(flags={"phone_valid": False, "phone_error": str(exc)})
        if not phonenumbers.is_valid_number(number):
            return ProviderResult(flags={"phone_valid": False})
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        country = phonenumbers.region_code_for_number(number)
        result = ProviderResult(
            flags={
                "phone_valid": True,
                "phone_country": country,
                "phone_line_type": _LINE_TYPES.get(phonenumbers.number_type(number), "unknown"),
            }
        )
        if e164 != raw:
            result.fields["phone"] = Found(e164, self.confidence)
        if country and country != "001" and not lead.get("country"):
            # Where the number is, not necessarily where the person is.
            result.fields["country"] = Found(country, 0.4)
        return result
