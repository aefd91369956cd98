"""CORS preflights (OPTIONS): S3's refusals of an incomplete one, and the rule matching
(origins with one wildcard, methods, requested headers) that answers the rest."""

from __future__ import annotations

import pytest

from gateway import errors
from gateway.handlers.cors import allow_headers, matching_rule, pattern_matches, requested_headers
from gateway.handlers.preflight import check_request
from gateway.wire.cors import CorsRule, parse_cors, render_cors

ORIGIN = "https://example.com"


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "POST", "DELETE"])
def test_a_well_formed_preflight_passes_the_check(method: str) -> None:
    assert check_request({"origin": ORIGIN, "access-control-request-method": method}) == (
        ORIGIN,
        method,
    )


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
    with pytest.raises(errors.BadRequest) as ei:
        check_request(headers)
    assert ei.value.status == 400 and message in ei.value.text


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*suffix", "foo.suffix", True),
        ("*suffix", "foo.suffix.get", False),
        ("start*end", "startend", True),
        ("start*end", "start12end", True),
        ("start*end", "0start12end", False),
        ("start*end", "startnd", False),  # the two ends may not overlap
        ("prefix*", "prefix.suffix", True),
        ("prefix*", "bla.prefix", False),
        ("*", "anything", True),
        ("exact", "exact", True),
        ("exact", "exactly", False),
    ],
)
def test_pattern_matches(pattern: str, value: str, expected: bool) -> None:
    assert pattern_matches(pattern, value) is expected


RULES = [
    CorsRule(origins=("https://*.example",), methods=("PUT",), headers=("x-amz-*",)),
    CorsRule(origins=("*",), methods=("GET",), expose=("ETag",)),
]


def test_the_first_matching_rule_decides() -> None:
    assert matching_rule(RULES, "https://a.example", "PUT", ["x-amz-meta-a"]) is RULES[0]
    assert matching_rule(RULES, "https://a.example", "PUT", ["content-type"]) is None
    assert matching_rule(RULES, "https://a.example", "GET") is RULES[1]
    assert matching_rule(RULES, "https://a.example", "DELETE") is None


def test_requested_headers_are_lower_case_names() -> None:
    assert requested_headers(" Content-Type ,X-Amz-Date,") == ["content-type", "x-amz-date"]
    assert requested_headers(None) == []


def test_allow_headers_of_a_star_rule_and_a_named_origin() -> None:
    star = allow_headers(RULES[1], "https://a.example")
    assert star["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in star
    assert star["access-control-expose-headers"] == "ETag"
    named = allow_headers(RULES[0], "https://a.example")
    assert named["access-control-allow-origin"] == "https://a.example"
    assert named["access-control-allow-credentials"] == "true"


def test_the_wire_round_trip_keeps_every_field() -> None:
    body = (
        b'<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule>'
        b"<ID>r&amp;1</ID><AllowedOrigin>https://a</AllowedOrigin><AllowedMethod>GET"
        b"</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
        b"<MaxAgeSeconds>30</MaxAgeSeconds></CORSRule></CORSConfiguration>"
    )
    rules = parse_cors(body)
    assert rules == [
        CorsRule(("https://a",), ("GET",), ("*",), ("ETag",), 30, "r&1"),
    ]
    assert parse_cors(render_cors(rules)) == rules
    assert [CorsRule.from_dict(r.to_dict()) for r in rules] == rules


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<CORSConfiguration/>", errors.MalformedXML),
        (
            b"<CORSConfiguration><CORSRule><Bogus>1</Bogus></CORSRule></CORSConfiguration>",
            errors.MalformedXML,
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
            b"</AllowedMethod><MaxAgeSeconds>x</MaxAgeSeconds></CORSRule></CORSConfiguration>",
            errors.MalformedXML,
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>COPY"
            b"</AllowedMethod></CORSRule></CORSConfiguration>",
            errors.InvalidRequest,
        ),
    ],
)
def test_bad_documents(body: bytes, error: type[errors.S3Error]) -> None:
    with pytest.raises(error):
        parse_cors(body)
