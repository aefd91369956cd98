"""Console sign-in throttling over real HTTP against a real `cairn serve --console-port`
(its own server: the lockout must not leak into other modules' sign-ins). Failed sign-ins
from one address lock it out with 429 and Retry-After, right secret or not; a success
before the limit clears the count; S3 itself is not affected."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.console.throttle import SignInThrottle
from tests.browser.test_console import run_console_server
from tests.conftest import make_client
from tests.server import CairnServer

LIMIT = SignInThrottle().max_failures


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    yield from run_console_server(tmp_path_factory)


def test_failed_sign_ins_lock_the_address_out(console_server: CairnServer) -> None:
    right = {"access_key": console_server.access_key, "secret_key": console_server.secret_key}
    wrong = {**right, "secret_key": "wrong-secret"}
    with httpx.Client(base_url=console_server.console_url) as client:  # type: ignore[attr-defined]
        for _ in range(LIMIT - 1):
            assert client.post("/api/session", json=wrong).status_code == 401
        assert client.post("/api/session", json=right).status_code == 200, "under the limit"
        client.cookies.clear()

        for _ in range(LIMIT):  # the success cleared the count: LIMIT more to lock
            assert client.post("/api/session", json=wrong).status_code == 401
        for form in (right, {"access_key": "SOMEOTHERKEY0000", "secret_key": "x"}):
            locked = client.post("/api/session", json=form)
            assert locked.status_code == 429, locked.text
            assert locked.json()["error"] == "TooManySignIns"
            assert 0 < int(locked.headers["retry-after"]) <= SignInThrottle().lockout
            assert "set-cookie" not in locked.headers
        assert client.get("/api/session").status_code == 401, "no session was opened"
    buckets = make_client(console_server).list_buckets()
    assert "Buckets" in buckets, "S3 requests with the same keys are not throttled"
