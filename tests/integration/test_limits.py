"""Per-connection limits of the gateway (gateway/http_protocol.py::HttpLimits), over raw
sockets against a real `cairn serve`: oversized heads, slow heads, idle connections, too
many connections, a PUT without framing and an absolute-form target naming another host.

The server is this module's own (short head timeout, few connections), so the limits
can be reached quickly; the shared integration targets keep the defaults.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_client
from tests.integration.helpers import parse_xml
from tests.server import CairnServer

HEADER_TIMEOUT = 2.0
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    srv = CairnServer(
        tmp_path_factory.mktemp("limits") / "data",
        extra_args=[
            "--header-timeout", str(HEADER_TIMEOUT),
            "--max-connections", str(MAX_CONNECTIONS),
        ],
    )  # fmt: skip
    srv.start()
    yield srv
    srv.stop()


def _connect(server: CairnServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _read_response(conn: socket.socket, deadline: float) -> tuple[int, str | None, bytes]:
    """(status, error code, raw bytes) of the one response on ``conn``, read until the
    server closes it or the deadline passes."""
    data = b""
    while time.monotonic() < deadline:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    if not data:
        return 0, None, data
    status = int(data.split(b" ", 2)[1])
    body = data.split(b"\r\n\r\n", 1)[1]
    code = parse_xml(body).findtext("Code") if body.startswith(b"<?xml") else None
    return status, code, data


def _closed(conn: socket.socket, deadline: float) -> bool:
    """True when the server closes ``conn`` before the deadline (what it sent is ignored)."""
    while time.monotonic() < deadline:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not conn.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def _send_quietly(conn: socket.socket, data: bytes) -> None:
    """Send until done or until the server closes the connection on us."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
        conn.sendall(data)


def test_megabyte_of_headers_refused_within_a_second_while_others_are_served(
    limited: CairnServer,
) -> None:
    """1 MiB of header lines, never ending: refused 400 RequestHeaderSectionTooLarge
    within 1 s, while another client's requests are answered meanwhile."""
    s3 = make_client(limited)
    s3.list_buckets()  # warm: the other client's connection is open
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"a" * 1000 + b"\r\n"
    flood = head + (b"X-Filler: " + b"a" * 1000 + b"\r\n") * 1048
    conn = _connect(limited)
    started = time.monotonic()
    sender = threading.Thread(target=_send_quietly, args=(conn, flood))
    sender.start()
    served = []
    for _ in range(5):
        served.append(s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"])
    status, code, raw = _read_response(conn, started + 5)
    elapsed = time.monotonic() - started
    sender.join(10)
    conn.close()
    assert (status, code) == (400, "RequestHeaderSectionTooLarge"), raw[:300]
    assert b"<MaxSizeAllowed>65536</MaxSizeAllowed>" in raw
    assert elapsed < 1.0
    assert served == [200] * 5


def test_complete_head_over_the_limit_is_refused(limited: CairnServer) -> None:
    """A whole head in one write, 100 KiB of headers: refused before any app work."""
    conn = _connect(limited)
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 100_000 + b"\r\n\r\n"
    _send_quietly(conn, head)
    status, code, raw = _read_response(conn, time.monotonic() + 5)
    conn.close()
    assert (status, code) == (400, "RequestHeaderSectionTooLarge"), raw[:300]


def test_long_request_line_is_refused(limited: CairnServer) -> None:
    conn = _connect(limited)
    _send_quietly(conn, b"GET /" + b"k" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, code, raw = _read_response(conn, time.monotonic() + 5)
    conn.close()
    assert (status, code) == (400, "RequestHeaderSectionTooLarge"), raw[:300]


def test_slowloris_head_is_answered_and_closed_after_the_head_timeout(
    limited: CairnServer,
) -> None:
    """A head trickling in a byte every 0.2 s never completes: 400 RequestTimeout and the
    connection is closed once the head timeout has passed (not kept open forever)."""
    conn = _connect(limited)
    started = time.monotonic()
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    answer = b""
    while time.monotonic() < started + HEADER_TIMEOUT + 5:
        try:
            conn.sendall(b"s")
        except (BrokenPipeError, ConnectionResetError):
            break
        conn.settimeout(0.2)
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        answer += chunk
        if not chunk:
            break
    elapsed = time.monotonic() - started
    conn.close()
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"<Code>RequestTimeout</Code>" in answer
    assert HEADER_TIMEOUT - 0.5 < elapsed < HEADER_TIMEOUT + 3


def test_connection_that_sends_nothing_is_closed_after_the_head_timeout(
    limited: CairnServer,
) -> None:
    conn = _connect(limited)
    started = time.monotonic()
    assert _closed(conn, started + HEADER_TIMEOUT + 5)
    assert time.monotonic() - started > HEADER_TIMEOUT - 0.5
    conn.close()


def test_requests_beyond_the_connection_limit_get_slow_down(limited: CairnServer) -> None:
    """With MAX_CONNECTIONS open, one more connection's request is answered 503 SlowDown
    (retryable); once they close, requests are served again."""
    held = [_connect(limited) for _ in range(MAX_CONNECTIONS)]
    time.sleep(0.2)  # let the worker accept them all
    try:
        conn = _connect(limited)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, code, raw = _read_response(conn, time.monotonic() + 5)
        conn.close()
    finally:
        for c in held:
            c.close()
    assert (status, code) == (503, "SlowDown"), raw[:300]
    time.sleep(0.2)
    assert make_client(limited).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_put_without_length_or_chunking_is_411(limited: CairnServer) -> None:
    """No Content-Length and no Transfer-Encoding: 411 MissingContentLength, not the body
    read as a next request and the connection dropped."""
    conn = _connect(limited)
    _send_quietly(conn, b"PUT /b/k HTTP/1.1\r\nHost: x\r\n\r\nsome body bytes")
    status, code, raw = _read_response(conn, time.monotonic() + 5)
    conn.close()
    assert (status, code) == (411, "MissingContentLength"), raw[:300]
    assert b"connection: close" in raw.lower()
    # A bodyless PUT (CreateBucket) needs no length: it reaches authentication.
    conn = _connect(limited)
    _send_quietly(conn, b"PUT /newbucket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, code, raw = _read_response(conn, time.monotonic() + 5)
    conn.close()
    assert (status, code) == (403, "AccessDenied"), raw[:300]


def test_absolute_form_target_naming_another_host_is_refused(limited: CairnServer) -> None:
    host = f"127.0.0.1:{limited.port}"
    conn = _connect(limited)
    _send_quietly(conn, f"GET http://evil.example/b/k HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    status, code, raw = _read_response(conn, time.monotonic() + 5)
    conn.close()
    assert (status, code) == (400, "InvalidRequest"), raw[:300]
    # The same form naming this very host reaches the app, which routes it as a GET of
    # key k in bucket b (there is no such bucket: NoSuchBucket, anonymous or not, as S3).
    conn = _connect(limited)
    request = f"GET http://{host}/b/k HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    _send_quietly(conn, request.encode())
    status, code, raw = _read_response(conn, time.monotonic() + 5)
    conn.close()
    assert (status, code) == (404, "NoSuchBucket"), raw[:300]


def test_server_log_names_no_refused_header_bytes(limited: CairnServer) -> None:
    """The refusals above leave nothing of the refused heads in the log."""
    assert b"a" * 100 not in Path(limited.log_path).read_bytes()


def test_a_refused_client_still_sending_reads_its_answer(limited: CairnServer) -> None:
    """The RequestTimeout reaches a client that keeps sending after it was written (the
    server half-closes and drops late bytes for a moment). This pins the answer; the race
    the lingering close removes (bytes arriving between the refusal and the close, so
    that the close resets the connection before the answer left) cannot be forced from
    here: it made test_slowloris_... fail once under load in CI."""
    conn = _connect(limited)
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    time.sleep(HEADER_TIMEOUT + 0.7)  # the answer is written by now, and not read yet
    conn.sendall(b"late bytes")
    time.sleep(0.3)  # a reset, if one comes, is here before the read
    conn.settimeout(5)
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    conn.close()
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"<Code>RequestTimeout</Code>" in answer
