from __future__ import annotations

from fastapi.testclient import TestClient

from leadbase.api import create_app, envelope_error
from leadbase.errors import DuplicateLeadError, ValidationError


def test_health_needs_nothing() -> None:
    client = TestClient(create_app())
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"status": "ok", "version": "0.1.0"}}
    assert client.get("/openapi.json").status_code == 200


def test_domain_errors_render_the_envelope() -> None:
    response = envelope_error(ValidationError("email", "not a valid email address"))
    assert response.status_code == 422
    assert response.body == (
        b'{"success":false,"error":"validation_error","message":"email: not a valid email'
        b' address","details":[{"field":"email","message":"not a valid email address"}]}'
    )
    duplicate = envelope_error(DuplicateLeadError("abc", "email"))
    assert duplicate.status_code == 409
