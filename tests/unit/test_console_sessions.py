"""Console sessions (gateway/console/sessions.py): random ids, idle expiry, a bounded
store, CSRF tokens compared in constant time, and a key pair that never prints its
secret."""

from __future__ import annotations

import time

import pytest

from gateway.console.sessions import Sessions
from gateway.console.signing import Keys, object_path, query_string

KEYS = Keys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def test_a_session_is_found_by_its_id_only() -> None:
    sessions = Sessions()
    sid, session = sessions.open(KEYS, admin=False)
    other, _ = sessions.open(KEYS, admin=False)
    assert sid != other and len(sid) >= 40  # 32 random bytes, URL-safe
    assert sessions.get(sid) is session
    assert sessions.get(sid[:-1] + ("A" if sid[-1] != "A" else "B")) is None
    assert sessions.get(None) is None and sessions.get("") is None


def test_an_idle_session_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    sessions = Sessions(idle_seconds=60)
    sid, _ = sessions.open(KEYS, admin=True)
    now[0] += 59
    assert sessions.get(sid) is not None  # used: its idle clock restarts
    now[0] += 59
    assert sessions.get(sid) is not None
    now[0] += 61
    assert sessions.get(sid) is None
    assert len(sessions) == 0


def test_expired_sessions_are_dropped_when_others_open(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    sessions = Sessions(idle_seconds=10)
    for _ in range(5):
        sessions.open(KEYS, admin=False)
    now[0] += 11
    sessions.open(KEYS, admin=False)
    assert len(sessions) == 1


def test_the_store_is_bounded_and_drops_the_least_recently_used() -> None:
    sessions = Sessions(max_sessions=3)
    first, _ = sessions.open(KEYS, admin=False)
    second, _ = sessions.open(KEYS, admin=False)
    sessions.open(KEYS, admin=False)
    assert sessions.get(first) is not None  # now the most recently used
    sessions.open(KEYS, admin=False)
    assert len(sessions) == 3
    assert sessions.get(second) is None and sessions.get(first) is not None


def test_sign_out_closes_the_session() -> None:
    sessions = Sessions()
    sid, _ = sessions.open(KEYS, admin=False)
    sessions.close(sid)
    assert sessions.get(sid) is None
    sessions.close(sid)  # twice is harmless
    sessions.close(None)


def test_the_csrf_token_must_match_exactly() -> None:
    _, session = Sessions().open(KEYS, admin=False)
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(None)
    assert not session.csrf_ok("")
    assert not session.csrf_ok(session.csrf + "x")
    assert not session.csrf_ok(
        session.csrf.upper() if session.csrf.upper() != session.csrf else "x"
    )
    _, another = Sessions().open(KEYS, admin=False)
    assert another.csrf != session.csrf and not session.csrf_ok(another.csrf)


def test_a_key_pair_never_prints_its_secret() -> None:
    _, session = Sessions().open(KEYS, admin=False)
    for text in (repr(KEYS), str(KEYS), repr(session), f"{session}"):
        assert KEYS.secret_key not in text
        assert "AKIDEXAMPLE" in text


def test_paths_and_queries_are_encoded_as_sigv4_signs_them() -> None:
    assert object_path("b", "a b/c+d~e%f/é") == "/b/a%20b/c%2Bd~e%25f/%C3%A9"
    assert object_path("b") == "/b"
    assert query_string({"prefix": "a/b c", "list-type": "2", "delimiter": "/"}) == (
        "delimiter=%2F&list-type=2&prefix=a%2Fb%20c"
    )
