"""The object lock wire format (gateway/wire/lock.py): what it renders it parses back to
the same thing (hypothesis), and what AWS refuses it refuses with AWS's error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import errors
from gateway.objects.types import LockRule, ObjectLock
from gateway.wire import lock as wire

NOW = 1_800_000_000_000  # 2027-01-15, ms
modes = st.sampled_from(wire.MODES)


@settings(deadline=None)  # a loaded machine is no failure
@given(modes, st.integers(1, wire.MAX_DAYS), st.booleans())
def test_configuration_round_trips(mode: str, n: int, days: bool) -> None:
    rule = LockRule(mode, days=n) if days else LockRule(mode, years=min(n, wire.MAX_YEARS))
    assert wire.parse_configuration(wire.configuration(rule)) == rule


def test_configuration_without_a_rule() -> None:
    assert wire.parse_configuration(wire.configuration(None)) is None


@settings(deadline=None)  # a loaded machine is no failure
@given(modes, st.integers(NOW + 1, 4_102_444_800_000))  # up to 2100
def test_retention_round_trips_to_the_millisecond(mode: str, until_ms: int) -> None:
    got = wire.parse_retention(wire.retention(ObjectLock(mode, until_ms)), NOW)
    assert got == ObjectLock(mode, until_ms)


@settings(deadline=None)  # a loaded machine is no failure
@given(st.sampled_from(wire.HOLDS))
def test_legal_hold_round_trips(status: str) -> None:
    assert wire.parse_legal_hold(wire.legal_hold(status)) == status


def test_an_empty_retention_asks_for_removal() -> None:
    assert wire.parse_retention(b"<Retention/>", NOW) == ObjectLock()


@pytest.mark.parametrize(
    ("date", "ms"),
    [
        ("2030-01-01T00:00:00Z", 1_893_456_000_000),
        ("2030-01-01T00:00:00.250Z", 1_893_456_000_250),
        ("2030-01-01T01:00:00+01:00", 1_893_456_000_000),
        ("2030-01-01T00:00:00", 1_893_456_000_000),  # no zone: UTC
        ("someday", None),
        ("", None),
    ],
)
def test_dates(date: str, ms: int | None) -> None:
    assert wire.parse_date(date) == ms


def _headers(mode: str | None = None, until: str | None = None, hold: str | None = None):
    out = {}
    if mode is not None:
        out[wire.MODE_HEADER] = mode
    if until is not None:
        out[wire.UNTIL_HEADER] = until
    if hold is not None:
        out[wire.HOLD_HEADER] = hold
    return out


def test_request_headers() -> None:
    assert wire.request_lock({}, NOW) is None
    assert wire.request_lock(_headers(hold="OFF"), NOW) == ObjectLock(None, None, "OFF")
    got = wire.request_lock(_headers("COMPLIANCE", "2030-01-01T00:00:00Z", "ON"), NOW)
    assert got == ObjectLock("COMPLIANCE", 1_893_456_000_000, "ON")
    assert wire.lock_headers(got) == {
        wire.MODE_HEADER: "COMPLIANCE",
        wire.UNTIL_HEADER: "2030-01-01T00:00:00.000Z",
        wire.HOLD_HEADER: "ON",
    }
    assert wire.lock_headers(ObjectLock()) == {}


@pytest.mark.parametrize(
    "headers",
    [
        _headers("GOVERNANCE"),
        _headers(until="2030-01-01T00:00:00Z"),
        _headers("governance", "2030-01-01T00:00:00Z"),
        _headers("GOVERNANCE", "2020-01-01T00:00:00Z"),  # in the past
        _headers("GOVERNANCE", "tomorrow"),
        _headers(hold="on"),
    ],
)
def test_bad_request_headers(headers: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidArgument):
        wire.request_lock(headers, NOW)


def test_integrity_headers() -> None:
    for ok in ({"content-md5": "x"}, {"x-amz-checksum-crc32": "x"}, {"x-amz-trailer": "x"}):
        wire.require_integrity(ok)
    with pytest.raises(errors.InvalidRequest):
        wire.require_integrity({"x-amz-checksum-type": "COMPOSITE"})


def test_bad_documents() -> None:
    with pytest.raises(errors.MalformedXML):
        wire.parse_configuration(b"<ObjectLockConfiguration/>")  # ObjectLockEnabled missing
    with pytest.raises(errors.MalformedXML):
        wire.parse_retention(b"<Retention><Mode>GOVERNANCE</Mode></Retention>", NOW)
    past = (
        b"<Retention><Mode>GOVERNANCE</Mode>"
        b"<RetainUntilDate>2020-01-01T00:00:00Z</RetainUntilDate></Retention>"
    )
    with pytest.raises(errors.InvalidArgument):
        wire.parse_retention(past, NOW)
