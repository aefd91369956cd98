"""The checker: pure functions over a recorded history and the final state; no I/O.

Per key, the history must be linearizable as a register whose initial value is ABSENT
(Wing & Gong's search, with Lowe's memo of visited states): every acknowledged operation
takes effect at one instant between its invoke and its completion, a refused (4xx) write
never takes effect, and a write whose outcome is unknown may take effect at any instant
after its invoke, or never. Reads must return the value of the last write before them.
A read whose body matched no write at all is torn, whatever the order.

When a key has no linearization, the checker names the anomaly by the first rule that the
history breaks (a lost write, a stale read, a resurrected delete), so a report says what
went wrong, not only that something did."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.chaos.history import ABSENT, Kind, Op, Outcome

INF = float("inf")
MAX_STATES = 200_000  # the search gives up (an "undecided" key) beyond this


@dataclass(frozen=True)
class Anomaly:
    kind: str  # torn-read | lost-write | stale-read | resurrected-delete | not-linearizable
    key: str
    detail: str


def check_history(ops: Iterable[Op]) -> list[Anomaly]:
    """Every anomaly of the history, per key (an empty list: the history is linearizable)."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_key[op.key].append(op)
    out: list[Anomaly] = []
    for key in sorted(by_key):
        out += check_key(key, by_key[key])
    return out


def check_key(key: str, ops: list[Op]) -> list[Anomaly]:
    """One key's anomalies: torn reads first, then the register check."""
    reads = [o for o in ops if o.kind is Kind.READ and o.outcome is Outcome.OK]
    torn = [o for o in reads if o.value is None]
    out = [Anomaly("torn-read", key, f"read at {o.invoke:.3f}: {o.note}") for o in torn]
    events = _prune([_event(o) for o in ops if _counts(o)])
    verdict = _linearizable(events)
    if verdict:
        return out
    if verdict is None:
        return [*out, Anomaly("undecided", key, f"{len(events)} operations, search too large")]
    return [*out, _explain(key, events)]


def _prune(events: list[_Event]) -> list[_Event]:
    """Drop writes of unknown outcome whose value no read saw: placing one anywhere only
    forces the next read to see it, so an order with it exists only if one without it
    does. This keeps the search small when a pause leaves many writes unknown."""
    seen = {e.value for e in events if e.kind is Kind.READ}
    return [e for e in events if e.required or e.kind is Kind.READ or e.value in seen]


@dataclass(frozen=True)
class _Event:
    """An operation as the search sees it: its window and whether it must happen."""

    kind: Kind
    value: str
    invoke: float
    complete: float  # INF for an unknown outcome
    required: bool  # acknowledged: it must be linearized

    def __str__(self) -> str:
        end = "?" if self.complete == INF else f"{self.complete:.3f}"
        return f"{self.kind.value} {self.value} [{self.invoke:.3f}, {end}]"


def _counts(op: Op) -> bool:
    """Refused writes never happen; reads that saw nothing or a torn body say nothing
    more here (torn reads are reported on their own)."""
    if op.outcome is Outcome.FAIL:
        return False
    if op.kind is Kind.READ:
        return op.outcome is Outcome.OK and op.value is not None
    return True


def _event(op: Op) -> _Event:
    value = ABSENT if op.kind is Kind.DELETE else str(op.value)
    ok = op.outcome is Outcome.OK
    return _Event(op.kind, value, op.invoke, op.complete if ok else INF, ok)


def _linearizable(events: list[_Event]) -> bool | None:
    """Depth-first search over linearization prefixes, memoizing (done set, value); None
    when it gave up after MAX_STATES states."""
    events = sorted(events, key=lambda e: e.invoke)
    len(events)
    need = sum(1 << i for i, e in enumerate(events) if e.required)
    seen: set[tuple[int, str]] = set()
    stack: list[tuple[int, str]] = [(0, ABSENT)]
    while stack:
        done, value = stack.pop()
        if done & need == need:
            return True
        if (done, value) in seen:
            continue
        seen.add((done, value))
        if len(seen) > MAX_STATES:
            return None
        # An operation may go next only if it was invoked before every pending required
        # operation completed (otherwise that one had to come first).
        horizon = min(
            (e.complete for i, e in enumerate(events) if not done >> i & 1 and e.required),
            default=INF,
        )
        for i, e in enumerate(events):
            if done >> i & 1 or e.invoke > horizon:
                continue
            if e.kind is Kind.READ:
                if e.value == value:
                    stack.append((done | 1 << i, value))
            else:
                stack.append((done | 1 << i, e.value))
    return False


def _explain(key: str, events: list[_Event]) -> Anomaly:
    """Name a non-linearizable key's anomaly by the first simple rule its reads break."""
    writes = [e for e in events if e.kind is not Kind.READ]
    reads = sorted((e for e in events if e.kind is Kind.READ), key=lambda e: e.invoke)
    for r in reads:
        if r.value != ABSENT and not any(
            w.value == r.value and w.invoke < r.complete for w in writes
        ):
            return Anomaly("phantom-read", key, f"{r}: no write of that value before it")
        sources = [w for w in writes if w.value == r.value and w.invoke < r.complete]
        newest = max((w.complete for w in sources), default=-INF) if r.value != ABSENT else -INF
        # A write acknowledged after every possible source of the value and before the read
        # began has overwritten it: the read is stale.
        later = [w for w in writes if w.required and w.complete < r.invoke and w.invoke > newest]
        if r.value == ABSENT and later:
            after = max(later, key=lambda w: w.complete)
            if after.kind is not Kind.DELETE:
                return Anomaly("lost-write", key, f"{r} after acknowledged {after}")
        elif later and all(w.value != r.value for w in later):
            last = max(later, key=lambda w: w.complete)
            kind = "resurrected-delete" if last.kind is Kind.DELETE else "stale-read"
            return Anomaly(kind, key, f"{r} after acknowledged {last}")
    return Anomaly(
        "not-linearizable",
        key,
        "; ".join(str(e) for e in sorted(events, key=lambda e: e.invoke))[:2000],
    )


@dataclass(frozen=True)
class FinalState:
    """What the cluster holds once healed: the listing, and per block its copies."""

    listed: frozenset[str]
    present: frozenset[str]  # keys whose final read found an object
    replicas: int  # R
    block_copies: dict[bytes, int]  # block id -> distinct nodes holding it (every node)
    referenced: frozenset[bytes]  # blocks of the live objects
    # Unreferenced blocks still on a node: (reference count or None, GC due ms or None).
    refs: dict[bytes, tuple[int | None, int | None]] = field(default_factory=dict)
    now_ms: int = 0
    slack_ms: int = 10_000  # GC runs every second: a due block may wait a few rounds


def check_final(state: FinalState) -> list[Anomaly]:
    """Listing == live keys; every live block on at least R nodes; no orphan block left."""
    out = [
        Anomaly("listing-extra", k, "listed but not readable")
        for k in sorted(state.listed - state.present)
    ]
    out += [
        Anomaly("listing-missing", k, "readable but not listed")
        for k in sorted(state.present - state.listed)
    ]
    for block in sorted(state.referenced):
        copies = state.block_copies.get(block, 0)
        if copies < state.replicas:
            out.append(
                Anomaly("under-replicated", block.hex(), f"{copies} of {state.replicas} copies")
            )
    for block in sorted(set(state.block_copies) - state.referenced):
        problem = _orphan_problem(
            *state.refs.get(block, (None, None)), state.now_ms - state.slack_ms
        )
        if problem:
            out.append(
                Anomaly(
                    "orphan-block",
                    block.hex(),
                    f"on {state.block_copies[block]} node(s): {problem}",
                )
            )
    return out


def _orphan_problem(count: int | None, due_ms: int | None, overdue_before: int) -> str | None:
    """Why a block that no live object refers to will not be (or was not) collected: None
    when GC will take it in time (a zero-count record queued for later: a failed upload's
    blocks wait out the upload grace, an hour, by design)."""
    if count is None:
        return "no reference record: nothing will ever collect it"
    if count > 0:
        return f"reference count {count} but no live object refers to it (a leaked reference)"
    if due_ms is None:
        return "zero references and not queued for GC"
    if due_ms < overdue_before:
        return "queued for GC but overdue"
    return None
