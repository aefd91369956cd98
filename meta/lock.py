"""Object lock: retention and legal holds of versions, and a bucket's lock configuration.

Pure rules over the records, so that every path that removes or changes a version asks
the same questions in the same place (meta.store calls them inside its transactions):

- A version under a legal hold, or with a retention date in the future, is never removed:
  not by DELETE, DeleteObjects, lifecycle expiry, an overwrite nor any other caller of
  the record layer. GOVERNANCE gives way only to a caller that asked to bypass it (and
  whom the gateway allowed s3:BypassGovernanceRetention); COMPLIANCE gives way to nobody.
- A retention can be extended by anyone allowed to set it; shortening, removing it or
  changing its mode needs the same bypass under GOVERNANCE, and is impossible under
  COMPLIANCE until its date has passed.

On a version record, a retention is ``extra["lock"] = {"m": mode, "u": until_ms}`` and a
legal hold ``extra["hold"] = "ON" | "OFF"`` (absent: never set). A bucket with object
lock keeps ``config["objectlock"] = {}`` (no default retention) or ``{"m": mode, "d":
days}`` / ``{"m": mode, "y": years}``; lock can never be turned off again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meta.api import MetaError
from meta.records import ObjectHead

GOVERNANCE = "GOVERNANCE"
COMPLIANCE = "COMPLIANCE"
MODES = (GOVERNANCE, COMPLIANCE)
ON, OFF = "ON", "OFF"
DAY_MS = 86_400_000
YEAR_DAYS = 365  # AWS counts a default retention's year as 365 days

CONFIG_KEY = "objectlock"  # in the bucket record's config


class ObjectLocked(MetaError):
    """The version is protected by object lock (a legal hold or an unexpired retention):
    it cannot be removed. The gateway answers AccessDenied, as S3 does."""


class RetentionChangeRefused(MetaError):
    """A retention change that would shorten, remove or weaken a retention still in force
    (COMPLIANCE always; GOVERNANCE without the bypass). AccessDenied, as S3 answers."""


class LockNotEnabled(MetaError):
    """A retention or legal hold for a version of a bucket without object lock
    (InvalidRequest "Bucket is missing Object Lock Configuration", as S3 answers)."""


class LockedVersioning(MetaError):
    """Versioning of a bucket with object lock can only stay Enabled (InvalidBucketState)."""


class VersioningNotEnabled(MetaError):
    """Lock for a bucket created without it needs versioning Enabled (InvalidBucketState)."""


@dataclass(frozen=True)
class Retention:
    mode: str  # GOVERNANCE or COMPLIANCE
    until_ms: int  # the retain-until date, ms since the epoch

    def in_force(self, now_ms: int) -> bool:
        return self.until_ms > now_ms

    def to_dict(self) -> dict[str, Any]:
        return {"m": self.mode, "u": self.until_ms}


@dataclass(frozen=True)
class DefaultRetention:
    """A bucket's default retention: exactly one of days and years."""

    mode: str
    days: int | None = None
    years: int | None = None

    def until_ms(self, from_ms: int) -> int:
        days = self.days if self.days is not None else (self.years or 0) * YEAR_DAYS
        return from_ms + days * DAY_MS

    def to_dict(self) -> dict[str, Any]:
        period = {"d": self.days} if self.days is not None else {"y": self.years}
        return {"m": self.mode, **period}


@dataclass(frozen=True)
class LockConfig:
    """A bucket's object lock configuration: lock is on; maybe a default retention."""

    rule: DefaultRetention | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.rule.to_dict() if self.rule is not None else {}


@dataclass(frozen=True)
class VersionLock:
    """What protects one version: its retention (None: never set) and legal hold
    (None: never set, else ON or OFF)."""

    retention: Retention | None = None
    legal_hold: str | None = None


# ------------------------------------------------------------------- bucket config


def bucket_lock(config: dict[str, Any]) -> LockConfig | None:
    """The lock configuration kept in a bucket record's config; None: lock is off."""
    stored = config.get(CONFIG_KEY)
    if not isinstance(stored, dict):
        return None
    if "m" not in stored:
        return LockConfig()
    return LockConfig(DefaultRetention(stored["m"], stored.get("d"), stored.get("y")))


def enable(config: dict[str, Any], lock: LockConfig) -> None:
    """Turn lock on, or change its default retention, in a bucket record's config. A
    bucket created without lock gets it only while its versioning is Enabled (AWS's rule
    for enabling lock on an existing bucket); otherwise VersioningNotEnabled."""
    if bucket_lock(config) is None and config.get("versioning") != "Enabled":
        raise VersioningNotEnabled(config.get("versioning") or "never enabled")
    config[CONFIG_KEY] = lock.to_dict()


def new_bucket_config() -> dict[str, Any]:
    """The config of a bucket created with object lock: lock on, versioning Enabled."""
    return {CONFIG_KEY: {}, "versioning": "Enabled"}


def check_versioning(config: dict[str, Any], status: str) -> None:
    """A bucket with object lock keeps versioning Enabled: S3 refuses to suspend it."""
    if bucket_lock(config) is not None and status != "Enabled":
        raise LockedVersioning(status)


# --------------------------------------------------------------------- versions


def lock_of(head: ObjectHead) -> VersionLock:
    stored = head.extra.get("lock")
    retention = (
        Retention(stored["m"], int(stored["u"]))
        if isinstance(stored, dict) and "m" in stored
        else None
    )
    hold = head.extra.get("hold")
    return VersionLock(retention, hold if hold in (ON, OFF) else None)


def set_retention(head: ObjectHead, retention: Retention | None) -> None:
    if retention is None:
        head.extra.pop("lock", None)
    else:
        head.extra["lock"] = retention.to_dict()


def set_legal_hold(head: ObjectHead, status: str) -> None:
    head.extra["hold"] = status


def apply_default(head: ObjectHead, config: dict[str, Any]) -> None:
    """A new version of a bucket with a default retention gets it, counted from the
    version's write time, unless the writer gave a retention of its own. A new version
    of a bucket without lock may carry no lock settings at all."""
    lock = bucket_lock(config)
    if lock is None:
        if "lock" in head.extra or "hold" in head.extra:
            raise LockNotEnabled(head.key)
        return
    if lock.rule is not None and "lock" not in head.extra:
        set_retention(head, Retention(lock.rule.mode, lock.rule.until_ms(head.mtime_ms)))


def check_removal(head: ObjectHead, now_ms: int, bypass_governance: bool = False) -> None:
    """Raise ObjectLocked unless this version may be removed for good now."""
    lock = lock_of(head)
    if lock.legal_hold == ON:
        raise ObjectLocked(head.key)
    r = lock.retention
    overridable = r is not None and r.mode == GOVERNANCE and bypass_governance
    if r is not None and r.in_force(now_ms) and not overridable:
        raise ObjectLocked(head.key)


def check_change(
    before: Retention | None,
    after: Retention | None,
    now_ms: int,
    bypass_governance: bool = False,
) -> None:
    """Raise RetentionChangeRefused when ``before`` (a retention still in force) may not
    become ``after``. Keeping the mode and not moving the date earlier is always allowed;
    anything else needs the bypass under GOVERNANCE and is refused under COMPLIANCE."""
    if before is None or not before.in_force(now_ms) or before == after:
        return
    extends = after is not None and after.mode == before.mode and after.until_ms >= before.until_ms
    if extends:
        return
    if before.mode == GOVERNANCE and bypass_governance:
        return
    raise RetentionChangeRefused(before.mode)
