"""Carrying out lifecycle rules: the housekeeper's lifecycle pass, in bounded batches.

A *run* walks every bucket that has rules, in name order, in three stages per bucket:

0. current versions (the ``O`` index): an expired one is deleted (unversioned bucket) or
   hidden behind a delete marker (versioned), by ``MetaStore.delete_current``;
1. the history (``V``, versioned buckets only), one key at a time, newest first:
   noncurrent versions past NoncurrentDays (beyond NewerNoncurrentVersions) and then a
   delete marker left alone are removed by ``MetaStore.delete_version``;
2. incomplete multipart uploads past DaysAfterInitiation, by ``Uploads.abort``.

Those are the same functions DELETE, DeleteObjects and AbortMultipartUpload use, so
whatever they refuse (a version under object lock) lifecycle cannot remove either.

Progress is one record, ``X lifecycle`` (``RunState``): the run's cursor (bucket, stage,
last key done) and counts. Every deletion writes a small tally record
(``X lifecycle\0<random>``: its kind) in its own transaction (``also``), so a count
exists exactly when its deletion committed, and the deletions of a batch can run
concurrently (up to ``PARALLEL``, sharing the group commit) without contending for one
record. After each batch the cursor is saved and the tallies are folded into the
record's counts, in the same transactions. A process killed mid-run leaves the cursor at
the last batch, and whoever runs next re-reads the keys after it: what was done is gone
(or no longer due) and is neither done nor counted twice. Each of those commits also
compares the election key (``fence``): a leader that lost its lease cannot commit, so
two runs never act at once. A noncurrent version counts as noncurrent from when the next newer version
still in the history was written: after versions in between are removed, that is later
than AWS would say, never earlier.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from meta import keys, lifecycle
from meta.api import Txn, TxnConflict
from meta.election import NotLeader
from meta.errors import BucketNotFound, ConditionFailed, UploadNotFound
from meta.lifecycle import Clock, Rule
from meta.records import ObjectHead, Upload, now_ms, pack_record, unpack_record
from meta.store import Also, MetaStore
from meta.uploads import Uploads
from meta.versions import ORDER_LEN, History

log = logging.getLogger("cairn.lifecycle")

STATE_KEY = keys.JOB + b"lifecycle"
KINDS = ("objects", "versions", "markers", "uploads")  # what the counts count
OBJECTS, VERSIONS, MARKERS, UPLOADS = range(4)
STAGES = 3
PARALLEL = 16  # deletions of one batch in flight at once
FOLD = 100  # tallies folded into the record per transaction (etcd: 128 operations)

Fence = Callable[[Txn], None]


@dataclass
class RunState:
    """The lifecycle job's progress record."""

    runs: int = 0  # runs started
    active: bool = False
    started_ms: int = 0
    finished_ms: int = 0  # when the last run finished
    bucket: str | None = None  # the bucket being worked on; None: before the first
    stage: int = 0
    after: str | None = None  # the last key (stage 0, 1) or upload id (stage 2) done
    counts: list[int] = field(default_factory=lambda: [0] * len(KINDS))  # this run
    totals: list[int] = field(default_factory=lambda: [0] * len(KINDS))  # every run

    def to_bytes(self) -> bytes:
        return pack_record(
            {
                "r": self.runs, "a": self.active, "s": self.started_ms, "f": self.finished_ms,
                "b": self.bucket, "g": self.stage, "k": self.after,
                "c": self.counts, "t": self.totals,
            }
        )  # fmt: skip

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> RunState:
        if raw is None:
            return cls()
        d: dict[str, Any] = unpack_record(raw)
        return cls(
            d["r"], d["a"], d["s"], d["f"], d["b"], d["g"], d["k"], list(d["c"]), list(d["t"])
        )

    def add(self, kinds: list[int]) -> None:
        for kind in kinds:
            self.counts[kind] += 1
            self.totals[kind] += 1


class Changed(Exception):
    """The version a decision was made on is no longer the current one: skip it."""


TALLY = STATE_KEY + b"\0"


async def load_state(meta: MetaStore) -> RunState:
    """The progress record with the tallies not folded in yet (for operators, tests)."""
    state = RunState.from_bytes(await meta.kv.get(STATE_KEY))
    state.add([kind for _, kind in await _tallies(meta.kv, 1_000_000)])
    return state


async def _tallies(kv: Any, limit: int) -> list[tuple[bytes, int]]:
    rows = await kv.scan(TALLY, keys.prefix_end(TALLY), limit=limit)
    return [(k, int(unpack_record(v)["k"])) for k, v in rows]


class LifecycleRun:
    """The lifecycle pass of one housekeeper. ``step`` does one bounded batch."""

    def __init__(
        self,
        meta: MetaStore,
        clock: Clock,
        *,
        interval_s: float = 3600.0,
        batch: int = 500,
        fence: Fence | None = None,
    ) -> None:
        self.meta = meta
        self.kv = meta.kv
        self.clock = clock
        self.interval_ms = int(interval_s * 1000)
        self.batch = batch
        self.fence = fence
        self.uploads = Uploads(meta)
        self.state = RunState()
        self.raw: bytes | None = None
        self._slots = asyncio.Semaphore(PARALLEL)
        self.skipped = 0  # actions refused (object lock) or failed, since start

    # ----------------------------------------------------------------- the run

    async def step(self, now: int | None = None) -> int:
        """One batch of at most ``batch`` rows; starts a run when one is due and finishes
        it at the end. Returns the rows examined."""
        now = now_ms() if now is None else now
        self.raw = await self.kv.get(STATE_KEY)
        self.state = RunState.from_bytes(self.raw)
        st = self.state
        if not st.active:
            if st.runs and now - st.finished_ms < self.interval_ms:
                return 0
            st.runs, st.active, st.started_ms = st.runs + 1, True, now
            st.bucket, st.stage, st.after, st.counts = None, 0, None, [0] * len(KINDS)
            await self._save()
        budget = self.batch
        while budget > 0 and self.state.active:
            used = await self._advance(budget, now)
            budget -= max(used, 1)
            await self._save()
        return self.batch - budget

    async def _advance(self, budget: int, now: int) -> int:
        """Work on the bucket at the cursor (moving to the next one when it is done);
        returns the rows it examined."""
        st = self.state
        if (st.bucket is None or st.stage >= STAGES) and not await self._next_bucket():
            st.active, st.finished_ms = False, now
            log.info("lifecycle run %d done: %s", st.runs, dict(zip(KINDS, st.counts, strict=True)))
            return 0
        assert st.bucket is not None
        rec = await self.meta.get_bucket(st.bucket)
        rules = lifecycle.rules_of(rec.config.get("lifecycle")) if rec is not None else []
        if rec is None or not rules:
            st.stage = STAGES
            return 0
        stage = (self._current, self._history, self._uploads)[st.stage]
        used, done = await stage(st.bucket, rec.owner, rules, budget, now)
        if done:  # (an action may have replaced self.state: not ``st`` any more)
            self.state.stage, self.state.after = self.state.stage + 1, None
        return used

    async def _next_bucket(self) -> bool:
        """Move the cursor to the next bucket with rules; False when there is none."""
        after = self.state.bucket or ""
        while True:
            recs = await self.meta.list_buckets(after=after, limit=100)
            if not recs:
                return False
            for rec in recs:
                if lifecycle.rules_of(rec.config.get("lifecycle")):
                    self.state.bucket, self.state.stage, self.state.after = rec.name, 0, None
                    return True
            after = recs[-1].name

    # ----------------------------------------------------------------- the stages

    async def _current(
        self, bucket: str, owner: str, rules: list[Rule], budget: int, now: int
    ) -> tuple[int, bool]:
        after = self.state.after
        start = after.encode() if after is not None else b""
        rows = await self.meta.scan_objects(bucket, start, after is not None, budget)
        heads = [ObjectHead.from_bytes(raw) for _, raw in rows]
        await self._all(
            lambda h=h: self._act(
                bucket,
                h.key,
                lambda also: self.meta.delete_current(
                    bucket, h.key, owner, condition=_same_version(h), also=also
                ),
                OBJECTS,
            )
            for h in heads
            if lifecycle.current_due(rules, h.key, h.size, h.tags, h.mtime_ms, now, self.clock)
        )
        if heads:
            self.state.after = heads[-1].key
        return len(rows), len(rows) < budget

    async def _history(
        self, bucket: str, owner: str, rules: list[Rule], budget: int, now: int
    ) -> tuple[int, bool]:
        if await self.meta.versioning(bucket) is None:
            return 0, True
        history = History(self.kv, bucket)
        after = self.state.after
        start = (
            keys.prefix_end(history.codec.encode(after.encode()) + b"\0")
            if after is not None
            else history.codec.prefix
        )
        rows = await self.kv.scan(start, history.codec.end, limit=budget)
        groups = _by_key(rows)
        complete = len(rows) < budget
        if not complete and len(groups) > 1:
            groups.pop()  # the last key may go on past this batch: next time
        elif not complete:  # one key with more versions than a batch: read it whole
            key = ObjectHead.from_bytes(rows[0][1]).key
            groups = [await history.newest(key, 1_000_000)]
        histories = [[ObjectHead.from_bytes(raw) for _, raw in group] for group in groups]
        await self._all(lambda vs=vs: self._key_history(bucket, vs, rules, now) for vs in histories)
        if histories:
            self.state.after = histories[-1][0].key
        return len(rows), complete

    async def _key_history(
        self, bucket: str, versions: list[ObjectHead], rules: list[Rule], now: int
    ) -> None:
        """One key's versions, newest first: expire noncurrent ones, then a lone marker."""
        key = versions[0].key
        left = 1
        newer = 0  # noncurrent versions newer than the one looked at
        for successor, v in zip(versions, versions[1:], strict=False):
            if v.marker:
                due = any(r.matches_key_only(key) for r in rules) and lifecycle.noncurrent_due(
                    rules, key, 0, {}, successor.mtime_ms, newer, now, self.clock
                )
            else:
                due = lifecycle.noncurrent_due(
                    rules, key, v.size, v.tags, successor.mtime_ms, newer, now, self.clock
                )
            newer += 1
            if due and await self._remove_version(bucket, v, MARKERS if v.marker else VERSIONS):
                continue
            left += 1
        top = versions[0]
        if (
            left == 1
            and top.marker
            and lifecycle.lone_marker_due(rules, key, top.mtime_ms, now, self.clock)
        ):
            await self._remove_version(bucket, top, MARKERS)

    async def _remove_version(self, bucket: str, v: ObjectHead, kind: int) -> bool:
        return await self._act(
            bucket,
            v.key,
            lambda also: self.meta.delete_version(bucket, v.key, v.vid, also=also),
            kind,
        )

    async def _uploads(
        self, bucket: str, owner: str, rules: list[Rule], budget: int, now: int
    ) -> tuple[int, bool]:
        if not any(r.abort_days is not None for r in rules):
            return 0, True
        prefix = keys.upload_prefix(bucket)
        after = self.state.after
        start = prefix + after.encode() + b"\0" if after is not None else prefix
        rows = await self.kv.scan(start, keys.prefix_end(prefix), limit=budget)
        uploads = [Upload.from_bytes(k[len(prefix) :].decode(), raw) for k, raw in rows]
        await self._all(
            lambda u=u: self._act(
                bucket,
                u.key,
                lambda also: self.uploads.abort(bucket, u.key, u.upload_id, also=also),
                UPLOADS,
            )
            for u in uploads
            if lifecycle.upload_due(rules, u.key, u.initiated_ms, now, self.clock)
        )
        if uploads:
            self.state.after = uploads[-1].upload_id
        return len(rows), len(rows) < budget

    # ----------------------------------------------------------------- committing

    async def _all(self, jobs: Iterable[Callable[[], Awaitable[object]]]) -> None:
        """Run a batch's jobs, PARALLEL at a time; the first failure (losing the lead)
        is raised once all have ended, so the cursor never passes unfinished work. A job
        is made only when its turn comes, so a cancelled batch leaves none unstarted."""

        async def one(job: Callable[[], Awaitable[object]]) -> None:
            async with self._slots:
                await job()

        results = await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _act(
        self, bucket: str, key: str, action: Callable[[Also], Awaitable[object]], kind: int
    ) -> bool:
        """Run one deletion with its tally (and the fence) in its transaction; True when
        it committed. A refusal (object lock) or a change meanwhile skips the key;
        losing the lead, or the progress record moving under us, stops the batch."""
        committed: list[bool] = []

        def also(txn: Txn) -> None:
            if self.fence is not None:
                self.fence(txn)
            txn.put(TALLY + os.urandom(12), pack_record({"k": kind}))
            committed[:] = [True]  # the last attempt's commit is the one that returns

        try:
            await action(also)
        except (Changed, UploadNotFound, BucketNotFound, ConditionFailed):
            return False
        except NotLeader:
            raise
        except Exception as exc:  # noqa: BLE001 - one refused key must not stop the run
            if await self.kv.get(STATE_KEY) != self.raw:
                # Somebody else moved the progress record (a new leader; a dying one's
                # last commit landing late): stop, and read it afresh next time.
                raise NotLeader("the lifecycle progress record moved") from exc
            self.skipped += 1
            log.warning("lifecycle: %s/%s left in place: %r", bucket, key, exc)
            return False
        return bool(committed)

    async def _save(self) -> None:
        """Store the cursor and fold the batch's tallies into the counts, each commit
        compared with the record this job last stored (and fenced)."""
        while True:
            tallies = await _tallies(self.kv, FOLD)
            self.state.add([kind for _, kind in tallies])
            raw = self.state.to_bytes()
            if raw == self.raw:
                return
            txn = Txn().expect(STATE_KEY, self.raw).put(STATE_KEY, raw)
            for k, _ in tallies:  # only the holder of the record folds: it compares that
                txn.delete(k)
            if self.fence is not None:
                self.fence(txn)
            try:
                await self.kv.commit(txn)
            except TxnConflict:
                raise NotLeader("the lifecycle progress record changed under this run") from None
            self.raw = raw
            if len(tallies) < FOLD:
                return


def _same_version(head: ObjectHead) -> Callable[[ObjectHead | None], None]:
    def check(current: ObjectHead | None) -> None:
        if current is None or current.version != head.version:
            raise Changed(head.key)

    return check


def _by_key(rows: list[tuple[bytes, bytes]]) -> list[list[tuple[bytes, bytes]]]:
    """History rows grouped by key (the stored key without its order), in order."""
    groups: list[list[tuple[bytes, bytes]]] = []
    last = None
    for row in rows:
        stem = row[0][: -ORDER_LEN - 1]
        if stem != last:
            groups.append([])
            last = stem
        groups[-1].append(row)
    return groups
