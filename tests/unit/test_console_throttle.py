"""The console's sign-in throttle on its own, with a clock the test moves: lockout after
N failures within the window, per address and per key, Retry-After counting down, a
success clearing the count, windows that lapse, and memory bounded."""

from __future__ import annotations

from gateway.console.throttle import SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **kw: float) -> SignInThrottle:
    return SignInThrottle(max_failures=3, window=60, lockout=30, clock=clock, **kw)  # type: ignore[arg-type]


def test_locked_after_n_failures_until_the_lockout_ends() -> None:
    clock = Clock()
    t = make(clock)
    for _ in range(2):
        t.failed("10.0.0.1", "AK1")
        assert t.retry_after("10.0.0.1", "AK1") is None
    t.failed("10.0.0.1", "AK1")
    assert t.retry_after("10.0.0.1", "AK1") == 30
    clock.now += 10.5
    assert t.retry_after("10.0.0.1", "AK1") == 20
    clock.now += 20
    assert t.retry_after("10.0.0.1", "AK1") is None


def test_the_address_and_the_key_are_locked_separately() -> None:
    clock = Clock()
    t = make(clock)
    for key in ("AK1", "AK2", "AK3"):  # one address spraying keys
        t.failed("10.0.0.1", key)
    assert t.retry_after("10.0.0.1", "ANY") == 30
    assert t.retry_after("10.0.0.2", "AK1") is None
    for address in ("10.0.0.5", "10.0.0.6", "10.0.0.7"):  # many addresses, one key
        t.failed(address, "VICTIM")
    assert t.retry_after("10.0.0.9", "VICTIM") == 30
    assert t.retry_after("10.0.0.9", "OTHER") is None


def test_a_success_clears_the_count() -> None:
    clock = Clock()
    t = make(clock)
    t.failed("10.0.0.1", "AK1")
    t.failed("10.0.0.1", "AK1")
    t.succeeded("10.0.0.1", "AK1")
    t.failed("10.0.0.1", "AK1")
    t.failed("10.0.0.1", "AK1")
    assert t.retry_after("10.0.0.1", "AK1") is None


def test_failures_outside_the_window_do_not_add_up() -> None:
    clock = Clock()
    t = make(clock)
    t.failed("10.0.0.1", "AK1")
    t.failed("10.0.0.1", "AK1")
    clock.now += 61
    t.failed("10.0.0.1", "AK1")
    assert t.retry_after("10.0.0.1", "AK1") is None


def test_memory_is_bounded_and_finished_tallies_go() -> None:
    clock = Clock()
    t = make(clock, max_entries=100)
    for i in range(1000):
        t.failed(f"10.1.{i // 256}.{i % 256}", f"KEY{i}")
    assert len(t) == 100
    clock.now += 61
    t.failed("10.9.9.9", "LAST")
    assert len(t) == 2, "the lapsed ones are dropped on the way"
