"""CORS preflights (OPTIONS) without any CORS configuration: S3's refusals."""

from __future__ import annotations

import pytest

from gateway import errors
from gateway.handlers.preflight import refusal

ORIGIN = "https://example.com"


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "POST", "DELETE"])
def test_a_well_formed_preflight_is_access_forbidden(method: str) -> None:
    for key, resource in ((None, "BUCKET"), ("k", "OBJECT")):
        err = refusal(key, {"origin": ORIGIN, "access-control-request-method": method})
        assert isinstance(err, errors.AccessForbidden) and err.status == 403
        assert err.text == "CORSResponse: CORS is not enabled for this bucket."
        assert err.extra == {"Method": method, "ResourceType": resource}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Insufficient information. Origin request header needed."),
        ({"origin": "", "access-control-request-method": "GET"}, "Insufficient information."),
        ({"origin": ORIGIN}, "Invalid Access-Control-Request-Method: null"),
        ({"origin": ORIGIN, "access-control-request-method": "get"}, "Method: get"),
        ({"origin": ORIGIN, "access-control-request-method": "PATCH"}, "Method: PATCH"),
        ({"origin": ORIGIN, "access-control-request-method": "OPTIONS"}, "Method: OPTIONS"),
    ],
)
def test_an_incomplete_preflight_is_bad_request(headers: dict[str, str], message: str) -> None:
    err = refusal("k", headers)
    assert isinstance(err, errors.BadRequest) and err.status == 400
    assert message in err.text
