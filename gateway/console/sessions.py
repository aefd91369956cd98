"""Console sessions: who is signed in, held in this process's memory only.

A session id is 32 random bytes (URL-safe), sent to the browser in an HttpOnly,
SameSite=Strict cookie; the S3 secret stays here, beside it, and is never sent back to
the page nor logged. Each session also has a CSRF token the page must echo in a header
on every state-changing request (SameSite=Strict already keeps other sites' requests
from carrying the cookie; the token is the second lock). A session ends when it is
signed out or has been idle longer than ``idle_seconds``; the store holds at most
``max_sessions`` (the oldest go first), so a flood of sign-ins cannot exhaust memory.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from gateway.console.signing import Keys

COOKIE = "cairn_console"
CSRF_HEADER = "x-cairn-csrf"


@dataclass
class Session:
    keys: Keys
    admin: bool  # may see the cluster view
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=lambda: time.monotonic())

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    def __init__(self, idle_seconds: float = 3600.0, max_sessions: int = 10_000) -> None:
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def open(self, keys: Keys, admin: bool) -> tuple[str, Session]:
        self._expire()
        while len(self._by_id) >= self.max_sessions:
            self._by_id.popitem(last=False)
        session_id = secrets.token_urlsafe(32)
        session = Session(keys, admin)
        self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id (its idle clock restarted), or None."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > self.idle_seconds:
            del self._by_id[session_id]
            return None
        session.last_seen = now
        self._by_id.move_to_end(session_id)
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def _expire(self) -> None:
        """Drop idle sessions from the oldest end (the order is least recently used)."""
        now = time.monotonic()
        while self._by_id:
            session_id, session = next(iter(self._by_id.items()))
            if now - session.last_seen <= self.idle_seconds:
                return
            del self._by_id[session_id]
