"""The workload: threads, each bound to one gateway, running a random mix of S3 calls on a
small set of keys (so that operations on one key overlap) and recording each in the
history. Every write gets a fresh write id; its body is values.body(), so reads identify
the write they saw."""

from __future__ import annotations

import contextlib
import random
import threading
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.chaos.history import ABSENT, History, Kind, Outcome
from tests.chaos.values import Value, body, ident_of

KiB, MiB = 1024, 1024 * 1024
# Inline (metadata only), one block, two 4 MiB blocks: away from the 64 KiB inline limit.
SIZES = (8 * KiB, 300 * KiB, 5 * MiB)
PART = 5 * MiB  # S3's smallest part but the last
BUCKET = "chaos"
# (operation, weight): each thread draws from this mix.
MIX = (
    ("put", 30), ("reput", 10), ("get", 25), ("range", 10), ("delete", 8),
    ("copy", 5), ("multipart", 3), ("delete_objects", 4), ("list", 5),
)  # fmt: skip


def s3_client(endpoint: str, access: str, secret: str, timeout: float = 8.0):
    """No retries: every failure is the history's to record."""
    cfg = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=3,
        read_timeout=timeout,
        max_pool_connections=2,
    )
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
        region_name="us-east-1", config=cfg,
    )  # fmt: skip


def outcome_of(exc: BaseException) -> tuple[Outcome, str]:
    """A 4xx refused the request (nothing happened); anything else may have happened."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = f"{status} {exc.response.get('Error', {}).get('Code')}"
        return (Outcome.FAIL if 400 <= status < 500 else Outcome.UNKNOWN), code
    return Outcome.UNKNOWN, type(exc).__name__


@dataclass
class Workload:
    """The shared state of a trial's workload threads."""

    endpoints: list[str]
    access: str
    secret: str
    rng_seed: int
    keys: list[str]
    sources: list[str]  # written once before the faults, never changed: copy sources
    history: History = field(default_factory=History)
    values: dict[str, Value] = field(default_factory=dict)  # ident -> value
    written: dict[str, list[str]] = field(default_factory=dict)  # key -> idents written
    counts: dict[str, int] = field(default_factory=dict)  # api -> calls
    source_values: dict[str, str] = field(default_factory=dict)  # source key -> ident
    _wid: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- values ---------------------------------------------------------------------------

    def new_value(self, key: str, size: int, parts: tuple[int, ...] = ()) -> Value:
        with self._lock:
            self._wid += 1
            value = Value(key, self._wid, size, parts)
            self.values[value.ident] = value
        return value

    def _note_write(self, key: str, ident: str) -> None:
        with self._lock:
            self.written.setdefault(key, []).append(ident)

    def identify(
        self, key: str, data: bytes, start: int = 0, total: int | None = None
    ) -> str | None:
        """The ident of the write `data` (bytes from `start`) is from, or None (torn)."""
        if start == 0 and total in (None, len(data)):
            ident = ident_of(data)
            value = self.values.get(ident or "")
            return ident if value is not None and body(value) == data else None
        with self._lock:
            candidates = list(dict.fromkeys(self.written.get(key, [])))
        for ident in candidates:
            value = self.values[ident]
            if total is not None and value.size != total:
                continue
            if body(value)[start : start + len(data)] == data:
                return ident
        return None

    # -- threads --------------------------------------------------------------------------

    def start(self, threads: int) -> None:
        for i in range(threads):
            endpoint = self.endpoints[i % len(self.endpoints)]
            t = threading.Thread(target=self._run, args=(i, endpoint), daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _run(self, process: int, endpoint: str) -> None:
        rng = random.Random(self.rng_seed * 1000 + process)
        s3 = s3_client(endpoint, self.access, self.secret)
        names, weights = zip(*MIX, strict=True)
        while not self._stop.is_set():
            name = rng.choices(names, weights)[0]
            with self._lock:
                self.counts[name] = self.counts.get(name, 0) + 1
            getattr(self, f"_{name}")(process, s3, rng)

    # -- operations -----------------------------------------------------------------------

    def put(self, process: int, s3, key: str, value: Value, api: str = "put") -> Outcome:
        self._note_write(key, value.ident)
        op = self.history.invoke(process, Kind.WRITE, key, value.ident, api)
        try:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body(value))
        except Exception as exc:  # noqa: BLE001 - recorded: the checker judges it
            outcome, note = outcome_of(exc)
            self.history.finish(op, outcome, note)
            return outcome
        self.history.finish(op, Outcome.OK)
        return Outcome.OK

    def _put(self, process: int, s3, rng: random.Random) -> None:
        key = rng.choice(self.keys)
        self.put(process, s3, key, self.new_value(key, rng.choice(SIZES)))

    def _reput(self, process: int, s3, rng: random.Random) -> None:
        """The bytes of an earlier write (often one since overwritten or deleted, whose
        blocks are queued for GC) under another key: the PUT deduplicates onto them."""
        with self._lock:
            pool = [v for v in self.values.values() if v.size > 64 * KiB and not v.parts]
        if pool:
            self.put(process, s3, rng.choice(self.keys), rng.choice(pool[-20:]), "reput")

    def _get(self, process: int, s3, rng: random.Random) -> None:
        self.get(process, s3, rng.choice(self.keys + self.sources))

    def get(self, process: int, s3, key: str) -> Outcome:
        op = self.history.invoke(process, Kind.READ, key, None, "get")
        try:
            data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except Exception as exc:  # noqa: BLE001
            outcome, note = outcome_of(exc)
            if note.endswith("NoSuchKey"):
                self.history.finish(op, Outcome.OK, seen=ABSENT)
                return Outcome.OK
            self.history.finish(op, Outcome.UNKNOWN, note)  # a read that failed says nothing
            return Outcome.UNKNOWN
        seen = self.identify(key, data)
        self.history.finish(op, Outcome.OK, "" if seen else f"torn: {len(data)} bytes", seen)
        return Outcome.OK

    def _range(self, process: int, s3, rng: random.Random) -> None:
        key = rng.choice(self.keys)
        limit = SIZES[0] if rng.random() < 0.5 else SIZES[-1]
        start = rng.randrange(0, limit - 4096)
        end = start + rng.randrange(64, 4096)
        op = self.history.invoke(process, Kind.READ, key, None, "range")
        try:
            got = s3.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={start}-{end}")
            data = got["Body"].read()
        except Exception as exc:  # noqa: BLE001
            outcome, note = outcome_of(exc)
            if note.endswith("NoSuchKey"):
                self.history.finish(op, Outcome.OK, seen=ABSENT)
            else:  # 416 only says the object is shorter: not recorded as a read
                self.history.finish(op, Outcome.UNKNOWN, note)
            return
        total = int(got["ContentRange"].rsplit("/", 1)[1])
        seen = self.identify(key, data, start, total)
        note = "" if seen else f"torn: bytes {start}-{end} of {total}"
        self.history.finish(op, Outcome.OK, note, seen)

    def _delete(self, process: int, s3, rng: random.Random) -> None:
        key = rng.choice(self.keys)
        op = self.history.invoke(process, Kind.DELETE, key, ABSENT, "delete")
        try:
            s3.delete_object(Bucket=BUCKET, Key=key)
        except Exception as exc:  # noqa: BLE001
            self.history.finish(op, *outcome_of(exc))
            return
        self.history.finish(op, Outcome.OK)

    def _delete_objects(self, process: int, s3, rng: random.Random) -> None:
        keys = rng.sample(self.keys, 3)
        ops = {
            k: self.history.invoke(process, Kind.DELETE, k, ABSENT, "delete_objects") for k in keys
        }
        try:
            got = s3.delete_objects(
                Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": False}
            )
        except Exception as exc:  # noqa: BLE001
            for op in ops.values():
                self.history.finish(op, *outcome_of(exc))
            return
        for done in got.get("Deleted", []):
            self.history.finish(ops.pop(done["Key"]), Outcome.OK)
        for err in got.get("Errors", []):
            op = ops.pop(err["Key"])
            self.history.finish(op, Outcome.UNKNOWN, err.get("Code", ""))
        for op in ops.values():  # not named in the answer at all
            self.history.finish(op, Outcome.UNKNOWN, "missing from the answer")

    def _copy(self, process: int, s3, rng: random.Random) -> None:
        key, source = rng.choice(self.keys), rng.choice(self.sources)
        ident = self.source_values[source]
        self._note_write(key, ident)
        op = self.history.invoke(process, Kind.WRITE, key, ident, "copy")
        try:
            s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": source})
        except Exception as exc:  # noqa: BLE001
            self.history.finish(op, *outcome_of(exc))
            return
        self.history.finish(op, Outcome.OK)

    def _multipart(self, process: int, s3, rng: random.Random) -> None:
        """Two parts, the first sent twice (a client's retry); the write is Complete."""
        key = rng.choice(self.keys)
        value = self.new_value(key, PART + MiB, (PART, MiB))
        data = body(value)
        try:
            upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        except Exception:  # noqa: BLE001 - nothing visible can come of it
            return
        try:
            etags = []
            for number, (a, b) in enumerate(((0, PART), (PART, PART + MiB)), start=1):
                tries = 2 if number == 1 else 1
                for _ in range(tries):
                    got = s3.upload_part(
                        Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number, Body=data[a:b]
                    )
                etags.append({"PartNumber": number, "ETag": got["ETag"]})
        except Exception:  # noqa: BLE001
            self._abort(s3, key, upload)
            return
        self._note_write(key, value.ident)
        op = self.history.invoke(process, Kind.WRITE, key, value.ident, "multipart")
        try:
            s3.complete_multipart_upload(
                Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": etags}
            )
        except Exception as exc:  # noqa: BLE001
            self.history.finish(op, *outcome_of(exc))
            self._abort(s3, key, upload)
            return
        self.history.finish(op, Outcome.OK)

    @staticmethod
    def _abort(s3, key: str, upload: str) -> None:
        with contextlib.suppress(Exception):  # the final sweep aborts what is left
            s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)

    def _list(self, process: int, s3, rng: random.Random) -> None:
        with contextlib.suppress(Exception):  # listings are checked once healed
            s3.list_objects_v2(Bucket=BUCKET, MaxKeys=rng.choice((5, 1000)))
