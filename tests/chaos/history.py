"""The history of a trial: every operation with its invoke and completion times, outcome
and the value it wrote or read. Recorded by the workload threads, judged by checker.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

ABSENT = "<absent>"  # the value a read of a missing key returns; what a delete writes


class Outcome(StrEnum):
    OK = "ok"  # acknowledged: it happened
    FAIL = "fail"  # refused with a 4xx: it did not happen
    UNKNOWN = "unknown"  # 5xx, timeout, connection lost: it may or may not have happened


class Kind(StrEnum):
    WRITE = "write"  # PUT, CopyObject, multipart Complete: the key now holds `value`
    DELETE = "delete"  # DELETE, one key of DeleteObjects: the key is now absent
    READ = "read"  # GET (whole or ranged): `value` is what was seen (ABSENT or an ident)


@dataclass
class Op:
    """One operation on one key. `value` is the write's ident (origin#wid) for a write,
    ABSENT for a delete, and for a read the ident that the body proved it saw (None when
    the body matched no write: a torn or foreign read)."""

    process: int
    kind: Kind
    key: str
    invoke: float
    complete: float = float("inf")
    outcome: Outcome = Outcome.UNKNOWN
    value: str | None = None
    api: str = ""  # the S3 call, for the report
    note: str = ""  # an error code, a range, a torn read's size

    def to_dict(self) -> dict:
        return {
            "p": self.process,
            "kind": self.kind.value,
            "key": self.key,
            "invoke": round(self.invoke, 6),
            "complete": None if self.complete == float("inf") else round(self.complete, 6),
            "outcome": self.outcome.value,
            "value": self.value,
            "api": self.api,
            "note": self.note,
        }


@dataclass
class History:
    """Thread-safe list of operations; times are time.monotonic() of the recording process."""

    ops: list[Op] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invoke(self, process: int, kind: Kind, key: str, value: str | None, api: str) -> Op:
        op = Op(process, kind, key, time.monotonic(), value=value, api=api)
        with self._lock:
            self.ops.append(op)
        return op

    @staticmethod
    def finish(op: Op, outcome: Outcome, note: str = "", seen: str | None = None) -> None:
        """Complete `op`; a read also records what it `seen` (an ident, ABSENT or None)."""
        op.complete = time.monotonic()
        op.outcome = outcome
        op.note = note
        if op.kind is Kind.READ:
            op.value = seen
