"""uvicorn's httptools protocol, with large request bodies handed to the app uncopied.

uvicorn (0.36-0.54) passes every body byte through three copies in Python before the app
sees it: httptools makes a new bytes object of each body span it parses, uvicorn appends
those to a bytearray, and ``receive()`` hands the app ``bytes(bytearray)``. On a large
PUT those copies and the parser's callbacks were 7-8% of the server's CPU (perf,
2026-11-28), as much as BLAKE3.

So this protocol does two things:

* **Pieces, not a bytearray.** Body pieces are kept as they come and joined only when
  more than one waits, so a piece usually reaches the app as the very object received.
* **Known-length bodies skip the parser.** Once the parser has read the headers of a
  request with one Content-Length of at least ``RAW_BODY_MIN`` (and no Transfer-Encoding
  or upgrade), the protocol counts the body bytes itself and hands the data that the
  event loop read to the app as it is. At the end of the body it calls the message-end
  callback the parser would have called and starts a fresh parser for the next request
  on the connection: the old one still expects body bytes and is never fed again.

Everything else is uvicorn's: flow control (reading pauses once more than 64 KiB wait),
Expect: 100-continue, pipelining, keep-alive, early responses (body bytes that arrive
after the response are read and dropped, as uvicorn does).

It also keeps a connection within limits (``HttpLimits``), checked before any app work:

* **Head size.** A request line over ``max_request_line`` bytes, or header fields over
  ``max_header_bytes``, are answered 400 RequestHeaderSectionTooLarge and the connection
  closed. httptools joins a header's pieces with ``bytes +=`` and uvicorn does the same
  with the URL, so an unbounded head costs quadratic time: the bytes of a head still
  open are counted as they arrive and the connection is refused as soon as they pass
  both limits together, long before a 1 MiB head is all read.
* **Head timeout.** A head must be complete within ``header_timeout`` seconds of the
  connection opening or of its first byte (slowloris); a partial head is answered 400
  RequestTimeout, a connection that sent nothing is closed silently. Idle keep-alive
  connections are uvicorn's ``timeout_keep_alive``.
* **Connections.** A request arriving while the worker holds more than
  ``max_connections`` connections is answered 503 SlowDown (retryable) and its
  connection closed.
* **Target.** An absolute-form target (``GET http://host/...``) naming another host than
  the Host header is refused 400 InvalidRequest.

It relies on uvicorn's cycle appending to ``cycle.body`` and converting it with
``bytes()`` in ``receive``, and on ``parser`` being the protocol's httptools parser.
tests/unit/test_http_protocol.py drives a real uvicorn server through this class with raw
sockets, and every integration test runs through it.
"""

from __future__ import annotations

import contextlib
import os
from asyncio import TimerHandle, Transport
from dataclasses import dataclass
from typing import ClassVar

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.errors import (
    InvalidRequest,
    RequestHeaderSectionTooLarge,
    RequestTimeout,
    S3Error,
    SlowDown,
)
from gateway.wire.error import error_document

__all__ = ["RAW_BODY_MIN", "BodyPieces", "CairnHttpProtocol", "HttpLimits"]

# Below this a body arrives in one or two reads: the parser's copy costs nothing worth
# a second code path.
RAW_BODY_MIN = 256 * 1024


LINGER_SECONDS = 2.0  # how long a refused connection's late bytes are read and dropped


class BodyPieces:
    """Body pieces received and not yet read by the app; ``bytes()`` of it joins them."""

    __slots__ = ("parts", "size")

    def __init__(self, start: bytes | bytearray = b"") -> None:
        self.parts: list[bytes] = [bytes(start)] if start else []
        self.size = len(start)

    def append(self, piece: bytes) -> None:
        self.parts.append(piece)
        self.size += len(piece)

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        # b"".join of one exact bytes object returns that object itself: no copy.
        return b"".join(self.parts)


@dataclass(frozen=True)
class HttpLimits:
    """What one connection may ask of a worker before any app work (module doc).

    AWS refuses header sections over 8 KiB; these defaults leave room for proxies and
    long presigned URLs while keeping a head's cost small and linear."""

    max_request_line: int = 16 * 1024
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 20.0
    max_connections: int = 1000


class _Refused(Exception):
    """Raised in a parser callback to stop the parser; the refusal is already sent."""


def _new_parser(protocol: HttpToolsProtocol) -> httptools.HttpRequestParser:
    """A parser set up as uvicorn sets up its own."""
    parser = httptools.HttpRequestParser(protocol)
    with contextlib.suppress(AttributeError):  # httptools < 0.6.3 has no leniencies
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
    return parser


class CairnHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose request bodies reach the app uncopied (module doc)."""

    # For the request whose headers were just parsed, if its body is to skip the parser:
    # the body bytes the parser has not delivered yet.
    _raw_pending: int | None = None
    # Body bytes still to come that bypass the parser (0: the parser reads everything).
    _raw_left = 0
    # Unparseable bytes came after a request whose response is still to be sent.
    _garbage_after_request = False

    limits: ClassVar[HttpLimits] = HttpLimits()
    # The head of the next request is being read (from the connection's start, or from
    # the end of the previous message until its headers are complete).
    _head_open = True
    # Bytes of the open head counted so far; a message ended in the current read.
    _head_size = 0
    _message_ended = False
    # The parser has seen the first byte of the open head.
    _head_started = False
    _head_timer: TimerHandle | None = None
    # A refusal was sent: nothing more is read from this connection.
    _refused = False

    @classmethod
    def with_limits(cls, limits: HttpLimits) -> type[CairnHttpProtocol]:
        """This protocol with other limits (uvicorn builds the protocol from a class)."""
        return type(cls.__name__, (cls,), {"limits": limits})

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._garbage_after_request or self._refused:
            return  # the parser has failed; the response in progress closes the connection
        if self._head_open and self._head_timer is None:
            self._arm_head_timer()
        self._message_ended = False
        left = self._raw_left
        if left:
            self._unset_keepalive_if_required()
            if len(data) <= left:
                self._raw_left = left - len(data)
                self._body(data)
                if not self._raw_left:
                    self._raw_end()
                return
            self._raw_left = 0
            self._body(data[:left])
            self._raw_end()
            data = data[left:]
        super().data_received(data)
        if self._raw_pending is not None and self.parser is not None:
            # The headers came in this read, the body did not (all of it): the rest
            # bypasses the parser.
            self._raw_left, self._raw_pending = self._raw_pending, None
        self._count_head(len(data))

    def _count_head(self, size: int) -> None:
        """Count a read that left a head open; refuse once no head could be that long.

        A read in which a message ended holds the next head's start at an unknown offset:
        it is not counted, so a pipelined head may pass the limit by one read at most
        (its exact size is still checked when it is complete)."""
        if not self._head_open or self._refused or self._garbage_after_request:
            return
        if self._message_ended:
            self._head_size = 0
            return
        self._head_size += size
        limits = self.limits
        if self._head_size > limits.max_request_line + limits.max_header_bytes:
            self._refuse(RequestHeaderSectionTooLarge(MaxSizeAllowed=str(limits.max_header_bytes)))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()
        refusal = self._refusal()
        if refusal is not None:
            self._refuse(refusal)
            raise _Refused()  # stops the parser: no app, no body
        super().on_headers_complete()
        self._raw_pending = None
        if self.parser.should_upgrade():
            return
        length: int | None = None
        for name, value in self.headers:
            if name == b"content-length":
                if length is not None or not value.isdigit():
                    return  # let the parser have its say on odd framing
                length = int(value)
            elif name == b"transfer-encoding":
                return
        if length is not None and length >= RAW_BODY_MIN:
            self._raw_pending = length

    def on_body(self, body: bytes) -> None:
        if self._raw_pending is not None:
            self._raw_pending -= len(body)
        if self.parser.should_upgrade() and self._should_upgrade():
            return
        self._body(body)

    def on_message_complete(self) -> None:
        self._raw_pending = None  # the parser saw the whole body itself
        self._next_head()
        super().on_message_complete()

    def _next_head(self) -> None:
        self._head_open, self._head_started, self._message_ended = True, False, True
        self._head_size = 0

    def send_400_response(self, msg: str) -> None:
        """Bytes that are no request followed a request still being answered (a body longer
        than its Content-Length, say): answer that request first, then close.

        uvicorn would write its 400 at once and close, so the client got a bare 400 in
        place of the answer to the request it sent (BadDigest for a short body). Nothing
        more is read from the connection; the app's response closes it.
        """
        if self._refused:
            return  # a limit's refusal was sent already (the parser stopped on it)
        cycle = self.cycle
        if cycle is None or cycle.response_complete or self.pipeline:
            super().send_400_response(msg)
            return
        cycle.keep_alive = False
        self._garbage_after_request = True
        self.flow.pause_reading()

    def _body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle.response_complete:
            return  # answered before the body was read: drop it, as uvicorn does
        pieces = cycle.body
        if type(pieces) is not BodyPieces:
            # receive() starts each message with a fresh bytearray: take over from it.
            pieces = cycle.body = BodyPieces(pieces)
        pieces.append(body)
        if pieces.size > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def _raw_end(self) -> None:
        # The old parser is mid-body; the next request starts with a fresh one.
        self.parser = _new_parser(self)
        self._next_head()
        super().on_message_complete()

    # --- limits --------------------------------------------------------------------------

    def _refusal(self) -> S3Error | None:
        """The error for a complete head that must not reach the app, if any."""
        limits = self.limits
        header_bytes = sum(len(name) + len(value) + 4 for name, value in self.headers)
        if len(self.url) > limits.max_request_line or header_bytes > limits.max_header_bytes:
            return RequestHeaderSectionTooLarge(MaxSizeAllowed=str(limits.max_header_bytes))
        if len(self.connections) > limits.max_connections:
            return SlowDown()
        if not self.url.startswith(b"/") and self.url != b"*" and not self._names_own_host():
            return InvalidRequest("The request target names a host other than the Host header.")
        return None

    def _names_own_host(self) -> bool:
        """An absolute-form target (RFC 9112 3.2.2) is served only for the Host it names."""
        try:
            target = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            return False
        if target.host is None:
            return False
        named = target.host + (b":%d" % target.port if target.port else b"")
        hosts = [value for name, value in self.headers if name == b"host"]
        return len(hosts) == 1 and hosts[0].lower() == named.lower()

    def _refuse(self, err: S3Error) -> None:
        """Answer ``err`` and close, reading nothing more. A response still in progress on
        this connection is finished first and closes it; the refused request then gets
        no answer (its client sees the connection end and may retry)."""
        self._refused = True
        self._cancel_head_timer()
        self.flow.pause_reading()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            return
        if self.transport.is_closing():
            return
        request_id = os.urandom(8).hex().upper().encode()
        body = error_document(err, request_id.decode())
        head = [
            STATUS_LINE[err.status],
            b"content-type: application/xml\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
            b"x-amz-request-id: " + request_id + b"\r\n",
            b"server: Cairn\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self._linger()

    def _linger(self) -> None:
        """Half-close after the answer, drop what the client still sends for a moment,
        then close (as nginx's lingering close). Closing at once, with the client's bytes
        unread, makes the kernel send a reset, which can destroy the answer before the
        client reads it: a client still trickling its head never saw its RequestTimeout."""
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()  # data_received drops it: the connection is refused
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        """A head not complete in time: 400 RequestTimeout if one was begun, else (nothing
        sent since the connection opened) a silent close. While a response is still being
        sent the client may wait for it: the next read arms the timer again."""
        self._head_timer = None
        if not self._head_open or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return
        if self._head_started:
            self._refuse(RequestTimeout())
        else:
            self._refused = True
            self.transport.close()
