"""Turn Pydantic's errors into our ValidationError, naming every bad field."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel

from leadbase.errors import ValidationError

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {"extra_forbidden": "unknown field"}


def parse(model: type[M], data: Any, *, prefix: str = "") -> M:
    if not isinstance(data, dict):
        field = prefix.rstrip(".") or "body"
        raise ValidationError(field, f"expected an object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        details = [
            {
                "field": prefix + ".".join(str(part) for part in err["loc"]),
                "message": _MESSAGES.get(err["type"], err["msg"]),
            }
            for err in exc.errors(include_url=False, include_input=False)
        ]
        first = details[0]
        raise ValidationError(first["field"], first["message"], details=details) from None
