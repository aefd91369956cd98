"""The checker on hand-made histories: ones it must accept, ones it must reject."""

from __future__ import annotations

from tests.chaos.checker import FinalState, check_final, check_history
from tests.chaos.history import ABSENT, Kind, Op, Outcome

OK, FAIL, UNKNOWN = Outcome.OK, Outcome.FAIL, Outcome.UNKNOWN
INF = float("inf")


def w(value: str, start: float, end: float, outcome: Outcome = OK, key: str = "k") -> Op:
    return Op(0, Kind.WRITE, key, start, end if outcome is OK else INF, outcome, value)


def d(start: float, end: float, outcome: Outcome = OK, key: str = "k") -> Op:
    return Op(0, Kind.DELETE, key, start, end, outcome, ABSENT)


def r(seen: str | None, start: float, end: float, key: str = "k") -> Op:
    return Op(1, Kind.READ, key, start, end, OK, seen)


def kinds(ops: list[Op]) -> list[str]:
    return [a.kind for a in check_history(ops)]


# -- accepted ------------------------------------------------------------------------------


def test_sequential_writes_and_reads() -> None:
    assert kinds([w("a", 0, 1), r("a", 2, 3), w("b", 4, 5), r("b", 6, 7)]) == []


def test_a_read_concurrent_with_an_overwrite_may_see_either_value() -> None:
    ops = [w("a", 0, 1), w("b", 2, 6), r("a", 3, 4), r("b", 4.5, 5)]
    assert kinds(ops) == []


def test_an_unknown_write_may_have_happened_even_much_later() -> None:
    ops = [w("a", 0, 1), w("b", 2, 3, UNKNOWN), r("a", 4, 5), r("b", 10, 11)]
    assert kinds(ops) == []


def test_an_unknown_write_may_never_have_happened() -> None:
    assert kinds([w("a", 0, 1), w("b", 2, 3, UNKNOWN), r("a", 10, 11)]) == []


def test_a_missing_key_reads_absent_and_a_delete_makes_it_absent() -> None:
    assert kinds([r(ABSENT, 0, 1), w("a", 2, 3), d(4, 5), r(ABSENT, 6, 7)]) == []


def test_keys_are_independent() -> None:
    ops = [
        w("a", 0, 1, key="x"),
        w("b", 0, 1, key="y"),
        r("b", 2, 3, key="y"),
        r("a", 2, 3, key="x"),
    ]
    assert kinds(ops) == []


# -- rejected ------------------------------------------------------------------------------


def test_lost_write() -> None:
    """An acknowledged PUT that a later read does not find."""
    assert kinds([w("a", 0, 1), r(ABSENT, 2, 3)]) == ["lost-write"]


def test_stale_read_after_an_acknowledged_overwrite() -> None:
    assert kinds([w("a", 0, 1), w("b", 2, 3), r("a", 4, 5)]) == ["stale-read"]


def test_resurrected_delete() -> None:
    assert kinds([w("a", 0, 1), d(2, 3), r("a", 4, 5)]) == ["resurrected-delete"]


def test_torn_read() -> None:
    """A body that is no write's bytes (the workload records it as seen=None)."""
    ops = [w("a", 0, 1), Op(1, Kind.READ, "k", 2, 3, OK, None, note="torn: 10 bytes")]
    assert kinds(ops) == ["torn-read"]


def test_a_refused_write_is_never_seen() -> None:
    assert kinds([w("a", 0, 1), w("b", 2, 3, FAIL), r("b", 4, 5)]) == ["phantom-read"]


def test_reads_going_back_in_time() -> None:
    """Each read alone is possible; together they are not (b, then a again)."""
    ops = [w("a", 0, 1), w("b", 2, 10, UNKNOWN), r("b", 3, 4), r("a", 5, 6)]
    assert kinds(ops) == ["not-linearizable"]


# -- final state ---------------------------------------------------------------------------


def _state(**kw) -> FinalState:
    base = {
        "listed": frozenset({"a"}), "present": frozenset({"a"}), "replicas": 2,
        "block_copies": {b"x": 2}, "referenced": frozenset({b"x"}), "now_ms": 100_000,
    }  # fmt: skip
    return FinalState(**(base | kw))


def test_a_healthy_final_state() -> None:
    assert check_final(_state()) == []


def test_final_state_rejections() -> None:
    found = check_final(
        _state(
            listed=frozenset({"b"}),
            block_copies={b"x": 1, b"y": 1, b"z": 1, b"q": 1},
            refs={b"y": (None, None), b"z": (0, 50_000), b"q": (0, 200_000)},
        )
    )
    got = sorted((a.kind, a.key) for a in found)
    assert got == [
        ("listing-extra", "b"),
        ("listing-missing", "a"),
        ("orphan-block", b"y".hex()),  # no record: nothing will collect it
        ("orphan-block", b"z".hex()),  # queued, but long overdue
        ("under-replicated", b"x".hex()),
    ]  # q: queued and not yet due, as a failed upload's blocks are


def test_many_unknown_writes_nobody_read_do_not_blow_up_the_search() -> None:
    """A paused gateway leaves many writes unknown; a lost write must still be named
    (without pruning them the search would try 2^40 subsets)."""
    unknown = [w(f"u{i}", 2 + i / 100, 0, UNKNOWN) for i in range(40)]
    assert kinds([w("a", 0, 1), *unknown, r(ABSENT, 5, 6)]) == ["lost-write"]


def test_a_search_too_large_is_undecided_not_accepted() -> None:
    from tests.chaos import checker

    saved = checker.MAX_STATES
    checker.MAX_STATES = 5
    try:
        ops = [w(f"v{i}", 0, 10) for i in range(8)] + [r("v0", 11, 12), r("v1", 13, 14)]
        assert kinds(ops) == ["undecided"]
    finally:
        checker.MAX_STATES = saved


def test_an_anomalous_trials_logs_are_kept_and_a_clean_ones_are_not(tmp_path) -> None:
    from tests.chaos.checker import Anomaly
    from tests.chaos.trial import Shape, TrialResult, keep_trial_logs

    logs = tmp_path / "c" / "logs"
    logs.mkdir(parents=True)
    (logs / "meta-0.log").write_text("repair: cannot list node-0\n")
    keep = tmp_path / "kept"
    clean = TrialResult(7, Shape.of(7))
    assert keep_trial_logs(logs, clean, keep) is None and not keep.exists()
    bad = TrialResult(8, Shape.of(8), anomalies=[Anomaly("under-replicated", "b1", "2 of 3")])
    kept = keep_trial_logs(logs, bad, keep)
    assert kept == keep / "seed-8"
    assert (kept / "meta-0.log").read_text() == "repair: cannot list node-0\n"
    failed = TrialResult(9, Shape.of(9), errors=["cluster up timed out"])
    assert keep_trial_logs(logs, failed, keep) == keep / "seed-9"
    assert keep_trial_logs(logs, bad, None) is None
