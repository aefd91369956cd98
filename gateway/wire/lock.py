"""Wire format of object lock: the <ObjectLockConfiguration>, <Retention> and <LegalHold>
documents, the x-amz-object-lock-* headers of a write, and the lock headers of HEAD/GET.

Everything is checked in full before anything is stored, with the errors AWS gives:
MalformedXML for a document that is not one of these (an unknown element, a mode other
than GOVERNANCE or COMPLIANCE, both Days and Years, a date that is no date),
InvalidRetentionPeriod for a default period that is not a positive number of days or
years, InvalidArgument for a retain-until date in the past and for bad headers.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidArgument, InvalidRequest, InvalidRetentionPeriod, MalformedXML
from gateway.objects.types import LockRule, ObjectLock
from gateway.wire.headers import iso_date
from gateway.wire.xml import document, el, parse

MODES = ("GOVERNANCE", "COMPLIANCE")
HOLDS = ("ON", "OFF")
MAX_DAYS = 36_500  # AWS's upper bound of a default retention: 100 years
MAX_YEARS = 100

MODE_HEADER = "x-amz-object-lock-mode"
UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
HOLD_HEADER = "x-amz-object-lock-legal-hold"
PAST_DATE = "The retain until date must be in the future!"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


# ------------------------------------------------------------ bucket configuration


def parse_configuration(body: bytes) -> LockRule | None:
    """The default retention of a PutObjectLockConfiguration body (None: lock without
    one). ObjectLockEnabled must say Enabled: lock cannot be turned off."""
    doc = parse(body, "ObjectLockConfiguration")
    if set(doc) - {"ObjectLockEnabled", "Rule"} or doc.get("ObjectLockEnabled") != "Enabled":
        raise MalformedXML()
    if "Rule" not in doc:
        return None
    rule = _children(doc["Rule"], {"DefaultRetention"})
    retention = _children(rule.get("DefaultRetention"), {"Mode", "Days", "Years"})
    mode = retention.get("Mode")
    if mode not in MODES or ("Days" in retention) == ("Years" in retention):
        raise MalformedXML()
    if "Days" in retention:
        return LockRule(mode, days=_period(retention["Days"], MAX_DAYS))
    return LockRule(mode, years=_period(retention["Years"], MAX_YEARS))


def configuration(rule: LockRule | None) -> bytes:
    parts = [el("ObjectLockEnabled", "Enabled")]
    if rule is not None:
        period = el("Days", rule.days) if rule.days is not None else el("Years", rule.years)
        parts.append(
            "<Rule><DefaultRetention>"
            + el("Mode", rule.mode)
            + period
            + "</DefaultRetention></Rule>"
        )
    return document("ObjectLockConfiguration", parts)


def _children(value: Any, allowed: set[str]) -> dict[str, Any]:
    """An element's children, all of them known ones; MalformedXML otherwise."""
    if not isinstance(value, dict) or not value or set(value) - allowed:
        raise MalformedXML()
    return value


def _period(value: Any, most: int) -> int:
    """A default retention's Days or Years: an integer (MalformedXML otherwise) that is
    positive and not over AWS's bound (InvalidRetentionPeriod otherwise)."""
    text = value.strip() if isinstance(value, str) else ""
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise MalformedXML()
    n = int(text)
    if n <= 0:
        raise InvalidRetentionPeriod()
    if n > most:
        raise InvalidRetentionPeriod("Default retention period is too large.")
    return n


# -------------------------------------------------------------- version retention


def parse_retention(body: bytes, now_ms: int) -> ObjectLock:
    """A PutObjectRetention body: a mode and a future retain-until date, or neither (an
    empty <Retention/> removes a retention, where that is allowed)."""
    doc = parse(body, "Retention")
    if set(doc) - {"Mode", "RetainUntilDate"}:
        raise MalformedXML()
    mode, until = doc.get("Mode"), doc.get("RetainUntilDate")
    if mode is None and until is None:
        return ObjectLock()
    if mode not in MODES or not isinstance(until, str):
        raise MalformedXML()
    until_ms = parse_date(until)
    if until_ms is None:
        raise MalformedXML()
    if until_ms <= now_ms:
        raise InvalidArgument(PAST_DATE)
    return ObjectLock(mode, until_ms)


def retention(lock: ObjectLock) -> bytes:
    parts = []
    if lock.mode is not None and lock.until_ms is not None:
        parts = [el("Mode", lock.mode), el("RetainUntilDate", iso_date(lock.until_ms))]
    return document("Retention", parts)


def parse_legal_hold(body: bytes) -> str:
    doc = parse(body, "LegalHold")
    status = doc.get("Status")
    if set(doc) - {"Status"} or status not in HOLDS:
        raise MalformedXML()
    return str(status)


def legal_hold(status: str) -> bytes:
    return document("LegalHold", [el("Status", status)])


def parse_date(value: str) -> int | None:
    """An ISO 8601 timestamp (a zone-less one is UTC) in ms since the epoch; None when it
    is no such date."""
    try:
        dt = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    try:  # integer arithmetic: a float of the seconds loses the last millisecond
        return (dt - EPOCH) // datetime.timedelta(milliseconds=1)
    except OverflowError:
        return None


# ------------------------------------------------------------------------ headers


def request_lock(headers: Mapping[str, str], now_ms: int) -> ObjectLock | None:
    """The lock a PutObject, CopyObject, CreateMultipartUpload or POST upload asks for
    (None: none; the bucket's default retention then applies)."""
    mode, until, hold = (
        headers.get(MODE_HEADER),
        headers.get(UNTIL_HEADER),
        headers.get(HOLD_HEADER),
    )
    if mode is None and until is None and hold is None:
        return None
    if (mode is None) != (until is None):
        raise InvalidArgument(
            f"{UNTIL_HEADER} and {MODE_HEADER} must both be supplied",
            ArgumentName=MODE_HEADER if mode is None else UNTIL_HEADER,
        )
    if mode is not None and mode not in MODES:
        raise InvalidArgument("Unknown wormMode directive.", ArgumentName=MODE_HEADER)
    until_ms = parse_date(until) if until is not None else None
    if until is not None and until_ms is None:
        raise InvalidArgument("Invalid retain until date.", ArgumentName=UNTIL_HEADER)
    if until_ms is not None and until_ms <= now_ms:
        raise InvalidArgument(PAST_DATE, ArgumentName=UNTIL_HEADER)
    if hold is not None and hold not in HOLDS:
        raise InvalidArgument(
            "Legal Hold must be either of 'ON' or 'OFF'", ArgumentName=HOLD_HEADER
        )
    return ObjectLock(mode, until_ms, hold)


def lock_enabled_header(headers: Mapping[str, str]) -> bool:
    """CreateBucket's x-amz-bucket-object-lock-enabled: true or false (any case)."""
    value = headers.get("x-amz-bucket-object-lock-enabled")
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise InvalidArgument(
        "x-amz-bucket-object-lock-enabled must be true or false",
        ArgumentName="x-amz-bucket-object-lock-enabled",
        ArgumentValue=value,
    )


def require_integrity(headers: Mapping[str, str]) -> None:
    """A PutObject with lock headers must carry Content-MD5 or a checksum, as on AWS."""
    if "content-md5" in headers or "x-amz-sdk-checksum-algorithm" in headers:
        return
    if "x-amz-trailer" in headers or any(
        h.startswith("x-amz-checksum-") and h != "x-amz-checksum-type" for h in headers
    ):
        return
    raise InvalidRequest(
        "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests "
        "with Object Lock parameters"
    )


def lock_headers(lock: ObjectLock) -> dict[str, str]:
    """The lock headers of HEAD and GET: what the version has, nothing when unset."""
    out: dict[str, str] = {}
    if lock.mode is not None and lock.until_ms is not None:
        out[MODE_HEADER] = lock.mode
        out[UNTIL_HEADER] = iso_date(lock.until_ms)
    if lock.legal_hold is not None:
        out[HOLD_HEADER] = lock.legal_hold
    return out
