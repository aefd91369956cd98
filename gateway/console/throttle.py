"""Sign-in throttling: failed console sign-ins, counted per remote address and per access
key, lock further attempts out for a while.

Without it the console is an oracle for guessing a secret at the speed of the gateway.
After ``max_failures`` failed sign-ins within ``window`` seconds from one address, or
naming one access key, every sign-in from that address or with that key is refused (429,
Retry-After) for ``lockout`` seconds, right secret or not, so a guesser learns nothing
while locked out. A successful sign-in clears both counters. The counters live in this
process's memory, like the sessions; at most ``max_entries`` are kept (the least recently
touched go first, and ones whose window and lockout are over are dropped on the way), so
a flood of addresses or invented keys cannot exhaust memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Tally:
    first: float  # when the current window's first failure happened
    failures: int = 0
    locked_until: float = 0.0


class SignInThrottle:
    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        lockout: float = 300.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.max_entries = max_entries
        self.clock = clock
        self._tallies: OrderedDict[tuple[str, str], _Tally] = OrderedDict()

    def retry_after(self, address: str, access_key: str) -> int | None:
        """Seconds until this address and key may try again, or None if they may now."""
        now = self.clock()
        waits = [
            t.locked_until - now
            for t in (self._tallies.get(k) for k in _subjects(address, access_key))
            if t is not None and t.locked_until > now
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, address: str, access_key: str) -> None:
        """Count one failed sign-in against the address and the key."""
        now = self.clock()
        for subject in _subjects(address, access_key):
            tally = self._tallies.pop(subject, None)
            if tally is None or now - tally.first > self.window:
                tally = _Tally(first=now)
            tally.failures += 1
            if tally.failures >= self.max_failures:
                tally.locked_until = now + self.lockout
            self._tallies[subject] = tally  # the most recently touched end
        self._evict(now)

    def succeeded(self, address: str, access_key: str) -> None:
        for subject in _subjects(address, access_key):
            self._tallies.pop(subject, None)

    def __len__(self) -> int:
        return len(self._tallies)

    def _evict(self, now: float) -> None:
        """Drop finished tallies from the oldest end, then the oldest beyond the bound."""
        while self._tallies:
            subject, tally = next(iter(self._tallies.items()))
            finished = now - tally.first > self.window and now >= tally.locked_until
            if not finished and len(self._tallies) <= self.max_entries:
                return
            del self._tallies[subject]


def _subjects(address: str, access_key: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return ("address", address), ("key", access_key)
