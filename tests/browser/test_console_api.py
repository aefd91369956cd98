"""The console's JSON API over real HTTP, without a browser: what a forged or careless
request gets. State-changing requests need the session's CSRF token (and change nothing
without it), the secret never comes back in any answer nor reaches the log, and bad input
is a clear error. The real `cairn serve --console-port` of tests/browser/test_console.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.test_console import run_console_server
from tests.conftest import make_client
from tests.server import CairnServer


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    yield from run_console_server(tmp_path_factory)


@pytest.fixture
def s3c(console_server: CairnServer) -> Any:
    return make_client(console_server)


@pytest.fixture
def signed_in(console_server: CairnServer) -> Iterator[tuple[httpx.Client, str]]:
    """A client holding a session cookie, and the session's CSRF token."""
    with httpx.Client(base_url=console_server.console_url) as client:  # type: ignore[attr-defined]
        answer = client.post(
            "/api/session",
            json={"access_key": console_server.access_key, "secret_key": console_server.secret_key},
        )
        assert answer.status_code == 200, answer.text
        yield client, answer.json()["csrf"]


@pytest.fixture
def bucket_name(s3c: Any) -> str:
    name = f"api-{uuid.uuid4().hex[:12]}"
    s3c.create_bucket(Bucket=name)
    return name


def keys_in(s3c: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3c.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_without_the_csrf_token_nothing_changes(signed_in, s3c, bucket_name):
    client, csrf = signed_in
    s3c.put_object(Bucket=bucket_name, Key="stays", Body=b"1")
    target = {"bucket": bucket_name, "key": "stays"}
    for token in (None, "", csrf[:-2] + "xx"):
        headers = {} if token is None else {"x-cairn-csrf": token}
        attempts = [
            client.put(
                "/api/object", params={**target, "key": "new"}, content=b"x", headers=headers
            ),
            client.delete("/api/object", params=target, headers=headers),
            client.post("/api/buckets", json={"name": bucket_name + "-2"}, headers=headers),
            client.post("/api/presign", json=target, headers=headers),
            client.delete("/api/session", headers=headers),
        ]
        assert [a.status_code for a in attempts] == [403] * 5
        assert {a.json()["error"] for a in attempts} == {"BadCsrfToken"}
    assert keys_in(s3c, bucket_name) == ["stays"]
    assert bucket_name + "-2" not in [b["Name"] for b in s3c.list_buckets()["Buckets"]]
    assert client.get("/api/session").status_code == 200  # still signed in


def test_without_a_session_the_api_answers_401(console_server, bucket_name):
    with httpx.Client(base_url=console_server.console_url) as client:
        for cookie in ({}, {"cairn_console": "forged-" + "A" * 40}):
            client.cookies.clear()
            client.cookies.update(cookie)
            for method, path in (("GET", "/api/buckets"), ("GET", "/api/cluster"),
                                 ("GET", "/api/session"), ("PUT", "/api/object")):  # fmt: skip
                answer = client.request(method, path, params={"bucket": bucket_name, "key": "k"})
                assert answer.status_code == 401 and answer.json()["error"] == "NotSignedIn"


def test_the_secret_never_comes_back_nor_reaches_the_log(
    signed_in, console_server, s3c, bucket_name
):
    client, csrf = signed_in
    secret = console_server.secret_key
    s3c.put_object(Bucket=bucket_name, Key="k", Body=b"v")
    answers = [
        client.get("/api/session"),
        client.get("/api/buckets"),
        client.get("/api/objects", params={"bucket": bucket_name}),
        client.get("/api/cluster"),
        client.post(
            "/api/presign", json={"bucket": bucket_name, "key": "k"}, headers={"x-cairn-csrf": csrf}
        ),
        client.post(
            "/api/session", json={"access_key": console_server.access_key, "secret_key": "wrong"}
        ),
    ]
    for answer in answers:
        assert secret not in answer.text and secret not in str(answer.headers)
    assert "secret" not in answers[0].json()
    assert secret not in console_server.log_path.read_text(errors="replace")


def test_sign_in_with_a_wrong_secret_or_unknown_key_is_401(console_server):
    with httpx.Client(base_url=console_server.console_url) as client:
        for form in (
            {"access_key": console_server.access_key, "secret_key": "wrong"},
            {"access_key": "NOSUCHKEY0000000", "secret_key": console_server.secret_key},
        ):
            answer = client.post("/api/session", json=form)
            assert answer.status_code == 401 and answer.json()["error"] == "SignInFailed"
            assert "set-cookie" not in answer.headers
        for bad in (b"not json", b"[1, 2]", b'{"access_key": ""}'):
            answer = client.post("/api/session", content=bad)
            assert answer.status_code == 400 and answer.json()["error"] == "InvalidArgument"


def test_bad_input_is_a_clear_error_and_changes_nothing(signed_in, s3c, bucket_name):
    client, csrf = signed_in
    h = {"x-cairn-csrf": csrf}

    def streamed() -> Iterator[bytes]:
        yield b"no length"

    answers = {
        "no length": client.put(
            "/api/object", params={"bucket": bucket_name, "key": "k"}, content=streamed(), headers=h
        ),  # fmt: skip
        "no key": client.put(
            "/api/object", params={"bucket": bucket_name}, content=b"x", headers=h
        ),
        "no such bucket": client.get("/api/objects", params={"bucket": bucket_name + "-none"}),
        "no such key": client.post(
            "/api/presign", json={"bucket": bucket_name, "key": "none"}, headers=h
        ),
        "long expiry": client.post(
            "/api/presign",
            json={"bucket": bucket_name, "key": "k", "expires": 8 * 86400},
            headers=h,
        ),
        "bad bucket name": client.post("/api/buckets", json={"name": "Bad_Name"}, headers=h),
    }
    got = {name: (a.status_code, a.json()["error"]) for name, a in answers.items()}
    assert got == {
        "no length": (411, "MissingContentLength"),
        "no key": (400, "InvalidArgument"),
        "no such bucket": (404, "NoSuchBucket"),
        "no such key": (404, "NoSuchKey"),
        "long expiry": (400, "InvalidArgument"),
        "bad bucket name": (400, "InvalidBucketName"),
    }, got
    assert keys_in(s3c, bucket_name) == []


def test_a_download_is_an_attachment_with_the_objects_bytes(signed_in, s3c, bucket_name):
    client, _ = signed_in
    s3c.put_object(Bucket=bucket_name, Key='dir/naïve "name".txt', Body=b"contents")
    answer = client.get(
        "/api/object", params={"bucket": bucket_name, "key": 'dir/naïve "name".txt'}
    )
    assert answer.status_code == 200 and answer.content == b"contents"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="na_ve _name_.txt"')
    assert "filename*=UTF-8''na%C3%AFve%20%22name%22.txt" in disposition
    assert answer.headers["x-content-type-options"] == "nosniff"


def admin(server: CairnServer, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "--data", str(server.data), *args, "--json"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_the_cluster_view_follows_the_keys_rights(console_server):
    """Another unrestricted key of the bootstrap user is an admin; once narrowed, its open
    session loses the cluster view at the next request."""
    made = admin(console_server, "key", "create")
    with httpx.Client(base_url=console_server.console_url) as client:
        answer = client.post(
            "/api/session",
            json={"access_key": made["access_key"], "secret_key": made["secret_key"]},
        )
        assert answer.status_code == 200 and answer.json()["admin"] is True
        assert client.get("/api/cluster").status_code == 200
        admin(console_server, "key", "deny", made["access_key"], "--bucket", "*", "--owner")
        deadline = time.monotonic() + 15  # gateways re-read keys every 2 s
        while client.get("/api/cluster").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        answer = client.get("/api/cluster")
        assert answer.status_code == 403 and answer.json()["error"] == "AccessDenied"
        assert client.get("/api/session").json()["admin"] is False
