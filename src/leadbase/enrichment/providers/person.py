"""Person: first and last name from the full name, or from an email's local
part (``jane.doe@``, ``jane_doe@``) when there is no name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from leadbase.dedupe import normalise as norm
from leadbase.enrichment.providers.base import BaseProvider, StepContext
from leadbase.enrichment.providers.email import is_role_account
from leadbase.enrichment.schemas import Found, ProviderResult

# Not "-": "jean-luc@" is one hyphenated first name as often as two names.
_LOCAL_NAME = re.compile(r"^([a-z]{2,30})[._]([a-z]{2,30})$")


def name_from_email(email: str) -> tuple[str, str] | None:
    """(First, Last) when the local part is plainly two names; else None."""
    if is_role_account(email):
        return None
    local = email.partition("@")[0].lower().split("+", 1)[0]
    match = _LOCAL_NAME.match(local)
    if match is None:
        return None
    return match.group(1).capitalize(), match.group(2).capitalize()


class PersonProvider(BaseProvider):
    name = "person"
    confidence = 0.9
    from_email_confidence = 0.5  # "jane.doe" is usually, not always, Jane Doe

    def enrich(self, lead: Mapping[str, Any], ctx: StepContext) -> ProviderResult | None:
        first, last, full = lead.get("first_name"), lead.get("last_name"), lead.get("full_name")
        if first and last:
            return None
        result = ProviderResult()
        if full:
            split_first, split_last = norm.split_name(str(full))
            if split_first and not first:
                result.fields["first_name"] = Found(split_first, self.confidence)
            if split_last and not last:
                result.fields["last_name"] = Found(split_last, self.confidence)
            return result
        if first or last or not lead.get("email"):
            return None
        guess = name_from_email(str(lead["email"]))
        if guess is None:
            return None
        result.fields = {
            "first_name": Found(guess[0], self.from_email_confidence),
            "last_name": Found(guess[1], self.from_email_confidence),
            "full_name": Found(f"{guess[0]} {guess[1]}", self.from_email_confidence),
        }
        return result
