"""Lifecycle rules, pure: which rule applies to a version, and when it is due.

A bucket's rules are stored in its record (``config["lifecycle"]``) as the plain dicts
that gateway/wire/lifecycle.py makes from PutBucketLifecycleConfiguration's XML:

    id      the rule's ID               on   Status is Enabled
    f       the filter's form, kept so GetBucketLifecycleConfiguration answers in the
            shape it was given: "legacy" (a top-level Prefix), "none", "empty",
            "prefix", "tag", "size", "and"
    p       prefix                      t    tags {key: value}, all must match
    gt, lt  ObjectSizeGreaterThan / ObjectSizeLessThan (bytes)
    ed      Expiration Days             edt  Expiration Date (ISO text, midnight UTC)
    em      ExpiredObjectDeleteMarker   nd   NoncurrentDays   nn  NewerNoncurrentVersions
    ad      AbortIncompleteMultipartUpload DaysAfterInitiation

Timing follows AWS: an action is due ``days`` after its start (creation, the moment a
version became noncurrent, an upload's initiation), rounded up to the next midnight UTC.
A scaled day (``--lifecycle-day-seconds``, a test option) is not rounded, as RGW's debug
interval is not, so a test waits a predictable number of day-lengths.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Clock:
    """How long a lifecycle day is, and whether due times round up to midnight UTC."""

    day_ms: int = DAY_MS
    midnight: bool = True

    @classmethod
    def scaled(cls, day_seconds: float | None) -> Clock:
        """AWS's clock, or one whose day lasts ``day_seconds`` (a test option)."""
        if not day_seconds:
            return cls()
        return cls(max(1, int(day_seconds * 1000)), midnight=False)

    def due(self, start_ms: int, days: int) -> int:
        t = start_ms + days * self.day_ms
        if self.midnight:
            t = (t // DAY_MS + 1) * DAY_MS
        return t


AWS_CLOCK = Clock()


@dataclass(frozen=True)
class Rule:
    id: str
    enabled: bool
    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    size_gt: int | None = None
    size_lt: int | None = None
    days: int | None = None
    date_ms: int | None = None
    delete_marker: bool = False
    noncurrent_days: int | None = None
    newer_noncurrent: int | None = None
    abort_days: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rule:
        edt = d.get("edt")
        return cls(
            id=str(d.get("id", "")),
            enabled=bool(d.get("on")),
            prefix=str(d.get("p", "")),
            tags=tuple(sorted(dict(d.get("t") or {}).items())),
            size_gt=d.get("gt"),
            size_lt=d.get("lt"),
            days=d.get("ed"),
            date_ms=parse_date_ms(edt) if edt else None,
            delete_marker=bool(d.get("em")),
            noncurrent_days=d.get("nd"),
            newer_noncurrent=d.get("nn"),
            abort_days=d.get("ad"),
        )

    @property
    def filters_objects_only(self) -> bool:
        """Tags and sizes belong to versions with data: such a rule never matches a delete
        marker or an upload."""
        return bool(self.tags) or self.size_gt is not None or self.size_lt is not None

    def matches(self, key: str, size: int, tags: Mapping[str, str]) -> bool:
        if not self.enabled or not key.startswith(self.prefix):
            return False
        if self.size_gt is not None and not size > self.size_gt:
            return False
        if self.size_lt is not None and not size < self.size_lt:
            return False
        return all(tags.get(k) == v for k, v in self.tags)

    def matches_key_only(self, key: str) -> bool:
        """A delete marker or an upload: only the prefix can match."""
        return self.enabled and not self.filters_objects_only and key.startswith(self.prefix)


def rules_of(stored: Any) -> list[Rule]:
    """The rules of a bucket record's ``config.get("lifecycle")`` (none when unset)."""
    if not isinstance(stored, list):
        return []
    return [Rule.from_dict(d) for d in stored if isinstance(d, Mapping)]


def parse_date_ms(text: str) -> int:
    """An ISO 8601 date-time of midnight UTC ("2027-01-01T00:00:00.000Z") as epoch ms."""
    day = text[:10]
    return calendar.timegm(time.strptime(day, "%Y-%m-%d")) * 1000


# ------------------------------------------------------------------ when things are due


def expiry(
    rules: Iterable[Rule], key: str, size: int, tags: Mapping[str, str], mtime_ms: int, clock: Clock
) -> tuple[int, str] | None:
    """(due time, rule id) of the earliest Expiration (Days or Date) that applies to the
    current version; None when no rule expires it. x-amz-expiration shows this."""
    best: tuple[int, str] | None = None
    for r in rules:
        if (r.days is None and r.date_ms is None) or not r.matches(key, size, tags):
            continue
        due = clock.due(mtime_ms, r.days) if r.days is not None else r.date_ms
        assert due is not None
        if best is None or due < best[0]:
            best = (due, r.id)
    return best


def current_due(
    rules: Sequence[Rule], key: str, size: int, tags: Mapping[str, str], mtime_ms: int,
    now_ms: int, clock: Clock,
) -> bool:  # fmt: skip
    """Whether the current version (not a delete marker) has expired by now."""
    found = expiry(rules, key, size, tags, mtime_ms, clock)
    return found is not None and found[0] <= now_ms


def noncurrent_due(
    rules: Sequence[Rule], key: str, size: int, tags: Mapping[str, str], since_ms: int,
    newer: int, now_ms: int, clock: Clock,
) -> bool:  # fmt: skip
    """Whether a noncurrent version expires: noncurrent since ``since_ms`` (when its
    successor was written), with ``newer`` noncurrent versions of the key newer than it."""
    for r in rules:
        if r.noncurrent_days is None and r.newer_noncurrent is None:
            continue
        if not r.matches(key, size, tags):
            continue
        if r.newer_noncurrent is not None and newer < r.newer_noncurrent:
            continue  # one of the newest N noncurrent versions: kept
        if r.noncurrent_days is None or clock.due(since_ms, r.noncurrent_days) <= now_ms:
            return True
    return False


def lone_marker_due(
    rules: Sequence[Rule], key: str, mtime_ms: int, now_ms: int, clock: Clock
) -> bool:
    """Whether a delete marker with no other version left is removed: a rule with
    ExpiredObjectDeleteMarker, or an Expiration in Days once the marker is that old (AWS
    cleans up expired markers for such a rule too)."""
    for r in rules:
        if not r.matches_key_only(key):
            continue
        if r.delete_marker:
            return True
        if r.days is not None and clock.due(mtime_ms, r.days) <= now_ms:
            return True
    return False


def abort_date(
    rules: Iterable[Rule], key: str, initiated_ms: int, clock: Clock
) -> tuple[int, str] | None:
    """(due time, rule id) of the earliest AbortIncompleteMultipartUpload that applies to
    an upload of ``key`` (CreateMultipartUpload answers it as x-amz-abort-date)."""
    dues = [
        (clock.due(initiated_ms, r.abort_days), r.id)
        for r in rules
        if r.abort_days is not None and r.matches_key_only(key)
    ]
    return min(dues) if dues else None


def upload_due(
    rules: Sequence[Rule], key: str, initiated_ms: int, now_ms: int, clock: Clock
) -> bool:
    """Whether an incomplete multipart upload is aborted (AbortIncompleteMultipartUpload)."""
    return any(
        r.abort_days is not None
        and r.matches_key_only(key)
        and clock.due(initiated_ms, r.abort_days) <= now_ms
        for r in rules
    )
