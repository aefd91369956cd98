"""CairnHttpProtocol against uvicorn's own httptools protocol, on real servers and sockets.

The same raw byte streams (large bodies cut at odd places, pipelined requests, early
answers, chunked bodies, Expect: 100-continue) go to a uvicorn server with the stock
protocol and to one with Cairn's; both must answer byte for byte alike, and the app must
see exactly the body that was sent. A last test checks the point of the class: a read
that is all body reaches the app as the very bytes object the event loop handed over.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn.server import ServerState

from gateway.http_protocol import RAW_BODY_MIN, BodyPieces, CairnHttpProtocol


async def app(scope, receive, send) -> None:  # noqa: ANN001 - ASGI
    """Answers with the MD5 and length of the body it read; /early answers without
    reading it; /slow reads it slowly, so that flow control pauses the socket."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    md5, size, pieces = hashlib.md5(), 0, 0
    if path != "/early":
        more = True
        while more:
            message = await receive()
            body = message.get("body", b"")
            md5.update(body)
            size += len(body)
            pieces += 1
            more = message.get("more_body", False)
            if path == "/slow":
                await asyncio.sleep(0.001)
    status = 400 if path == "/early" else 200
    out = json.dumps({"path": path, "md5": md5.hexdigest(), "size": size}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(out))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": out})


class _Server:
    def __init__(self, http: object) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        # No Date header: each server refreshes its own once a second, so two byte-exact
        # answers could differ across a second boundary for no fault of the protocol.
        config = uvicorn.Config(
            app, http=http, loop="uvloop", log_level="warning", lifespan="off", date_header=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def exchange(self, segments: list[bytes], responses: int, pause: float = 0.0) -> bytes:
        """Send the segments one by one (pause between them), read `responses` answers."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for seg in segments:
                conn.sendall(seg)
                if pause:
                    time.sleep(pause)
            return _read_responses(conn, responses)


def _read_responses(conn: socket.socket, count: int) -> bytes:
    data = b""
    got = 0
    while got < count:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        got = _complete_responses(data)
    return data


def _complete_responses(data: bytes) -> int:
    n, pos = 0, 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return n
        head = data[pos:end].lower()
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if len(data) < end + 4 + length:
            return n
        n += 1
        pos = end + 4 + length


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[_Server, _Server]]:
    stock, cairn = _Server("httptools"), _Server(CairnHttpProtocol)
    try:
        yield stock, cairn
    finally:
        stock.stop()
        cairn.stop()


def _put(path: str, body: bytes, extra: str = "") -> bytes:
    head = f"PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode()


def _cut(stream: bytes, rng: random.Random, largest: int) -> list[bytes]:
    out, pos = [], 0
    while pos < len(stream):
        n = rng.choice([1, 7, 4096, 65536, largest, rng.randint(1, largest)])
        out.append(stream[pos : pos + n])
        pos += n
    return out


def _answers(raw: bytes) -> list[dict]:
    parts = raw.split(b"\r\n\r\n")
    return [json.loads(p[: p.index(b"}") + 1]) for p in parts[1:] if p.startswith(b"{")]


def _expect(body: bytes, path: str = "/p") -> dict:
    return {"path": path, "md5": hashlib.md5(body).hexdigest(), "size": len(body)}


@pytest.mark.parametrize("seed", range(6))
def test_large_bodies_cut_anywhere_with_pipelined_requests(servers, seed: int) -> None:
    """Headers and body split at random points; the next request follows in the same
    segments as the end of the body; body sizes around the bypass threshold."""
    rng = random.Random(seed)
    sizes = [RAW_BODY_MIN - 1, RAW_BODY_MIN, RAW_BODY_MIN + 1, 3 << 20, rng.randint(1, 2 << 20)]
    bodies = [rng.randbytes(n) for n in sizes]
    stream = b"".join(_put("/p", b) for b in bodies) + _get("/after")
    segments = _cut(stream, rng, 300_000)
    stock, cairn = servers
    ours = cairn.exchange(segments, len(bodies) + 1)
    assert ours == stock.exchange(segments, len(bodies) + 1)
    assert _answers(ours) == [_expect(b) for b in bodies] + [_expect(b"", "/after")]


def test_whole_requests_in_one_send(servers) -> None:
    """Headers, a large body and the next request in one write: the parser reads it all."""
    body = random.Random(1).randbytes(RAW_BODY_MIN * 2)
    stream = _put("/p", body) + _put("/p", body[:1000]) + _get("/after")
    stock, cairn = servers
    ours = cairn.exchange([stream], 3)
    assert ours == stock.exchange([stream], 3)
    assert _answers(ours) == [_expect(body), _expect(body[:1000]), _expect(b"", "/after")]


def test_headers_alone_then_body_in_pieces(servers) -> None:
    """The common case for a client: the head in one write, the body in many."""
    body = random.Random(2).randbytes(5 << 20)
    req = _put("/slow", body)
    split = req.index(b"\r\n\r\n") + 4
    segments = [req[:split]] + [req[i : i + 100_000] for i in range(split, len(req), 100_000)]
    stock, cairn = servers
    ours = cairn.exchange(segments + [_get("/after")], 2)
    assert ours == stock.exchange(segments + [_get("/after")], 2)
    assert _answers(ours) == [_expect(body, "/slow"), _expect(b"", "/after")]


def test_answer_before_the_body_then_next_request(servers) -> None:
    """The app answers without reading the body; the body is read and dropped and the
    connection serves the next request."""
    body = random.Random(3).randbytes(1 << 20)
    req = _put("/early", body)
    split = req.index(b"\r\n\r\n") + 4
    segments = [req[:split], req[split : split + 5000], req[split + 5000 :] + _put("/p", body)]
    stock, cairn = servers
    ours = cairn.exchange(segments, 2, pause=0.05)
    assert ours == stock.exchange(segments, 2, pause=0.05)
    assert ours.startswith(b"HTTP/1.1 400 ")
    assert _answers(ours)[1] == _expect(body)


def test_chunked_and_odd_lengths_stay_with_the_parser(servers) -> None:
    """Transfer-Encoding: chunked, and a malformed Content-Length, are the parser's."""
    body = random.Random(4).randbytes(RAW_BODY_MIN + 10)
    chunked = b"PUT /p HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    chunked += b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    stock, cairn = servers
    ours = cairn.exchange([chunked[:1000], chunked[1000:]], 1)
    assert ours == stock.exchange([chunked[:1000], chunked[1000:]], 1)
    assert _answers(ours) == [_expect(body)]

    bad = b"PUT /p HTTP/1.1\r\nhost: x\r\ncontent-length: 3x\r\n\r\nabc"
    ours = cairn.exchange([bad], 1)
    assert ours == stock.exchange([bad], 1)
    assert ours.startswith(b"HTTP/1.1 400 ")


def test_expect_100_continue(servers) -> None:
    body = random.Random(5).randbytes(2 << 20)
    for server in servers:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
            head = _put("/p", b"", "expect: 100-continue\r\n").replace(
                b"content-length: 0", b"content-length: %d" % len(body)
            )
            conn.sendall(head)
            assert conn.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
            conn.sendall(body + _get("/after"))
            assert _answers(_read_responses(conn, 2)) == [_expect(body), _expect(b"", "/after")]


class _Transport:
    """Just enough transport for driving the protocol by hand (the last test)."""

    def __init__(self) -> None:
        self.reading = True
        self.written = b""

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        pass

    def set_write_buffer_limits(self, *args: object) -> None:
        pass


async def test_a_read_that_is_all_body_reaches_the_app_uncopied() -> None:
    received: list[bytes] = []

    async def keep(scope, receive, send) -> None:  # noqa: ANN001
        more = True
        while more:
            message = await receive()
            received.append(message["body"])
            more = message["more_body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(keep, lifespan="off")
    config.load()
    proto = CairnHttpProtocol(config=config, server_state=ServerState(), app_state={})
    transport = _Transport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    size = 4 * RAW_BODY_MIN
    proto.data_received(f"PUT /x HTTP/1.1\r\nhost: x\r\ncontent-length: {size}\r\n\r\n".encode())
    reads = [bytes([i]) * RAW_BODY_MIN for i in range(4)]
    for data in reads:
        proto.data_received(data)
        assert type(proto.cycle.body) is BodyPieces
        assert proto.cycle.body.parts[-1] is data
        assert not transport.reading  # more than 64 KiB waits: paused, as in uvicorn
        await asyncio.sleep(0.01)  # the app takes it
        assert received[-1] is data
        assert transport.reading
    await asyncio.sleep(0.01)
    assert b"".join(received) == b"".join(reads)
    assert transport.written.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize("seed", range(3))
def test_heads_under_the_limit_pass_however_cut_and_pipelined(servers, seed: int) -> None:
    """Heads just under the header limit, after large bodies, cut at random points: the
    limit counts only head bytes, so none is refused, and the answers are uvicorn's."""
    rng = random.Random(seed)
    limit = CairnHttpProtocol.limits.max_header_bytes
    big = f"x-big: {'h' * (limit - 200)}\r\n"
    bodies = [rng.randbytes(n) for n in (RAW_BODY_MIN + 7, 1 << 20, 100)]
    stream = b"".join(_put("/p", b, big) for b in bodies) + _get("/after")
    segments = _cut(stream, rng, 300_000)
    stock, cairn = servers
    ours = cairn.exchange(segments, len(bodies) + 1)
    assert ours == stock.exchange(segments, len(bodies) + 1)
    assert _answers(ours) == [_expect(b) for b in bodies] + [_expect(b"", "/after")]


def test_head_over_the_limit_is_refused_as_s3_error(servers) -> None:
    """A head one byte over the header limit after a good request on the same connection:
    the good one is answered, the next refused with S3's error document, and the
    connection closed. Pipelined behind a response still being sent, the refused request
    gets no answer of its own: that response closes the connection."""
    limit = CairnHttpProtocol.limits.max_header_bytes
    # Counted as name + value + 4 per field: host (4 + 1 + 4), content-length (14 + 1 + 4).
    value = "h" * (limit + 1 - (4 + 1 + 4) - (14 + 1 + 4) - (5 + 4))
    over = _put("/p", b"body", f"x-big: {value}\r\n")
    at_limit = _put("/p", b"body", f"x-big: {value[1:]}\r\n")
    _, cairn = servers
    out = cairn.exchange([_get("/first"), at_limit, over], 3, pause=0.3)
    first, _, refusal = out.partition(b"HTTP/1.1 400 ")
    assert _answers(first) == [_expect(b"", "/first"), _expect(b"body")]
    assert b"<Code>RequestHeaderSectionTooLarge</Code>" in refusal
    assert b"connection: close" in refusal
    pipelined = cairn.exchange([_get("/first") + over], 2)
    assert _answers(pipelined) == [_expect(b"", "/first")]
    assert b"HTTP/1.1 400 " not in pipelined
