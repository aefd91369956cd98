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

It relies on uvicorn's cycle appending to ``cycle.body`` and converting it with
``bytes()`` in ``receive``, and on ``parser`` being the protocol's httptools parser.
tests/unit/test_http_protocol.py drives a real uvicorn server through this class with raw
sockets, and every integration test runs through it.
"""

from __future__ import annotations

import contextlib

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["RAW_BODY_MIN", "BodyPieces", "CairnHttpProtocol"]

# Below this a body arrives in one or two reads: the parser's copy costs nothing worth
# a second code path.
RAW_BODY_MIN = 256 * 1024


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

    def data_received(self, data: bytes) -> None:
        if self._garbage_after_request:
            return  # the parser has failed; the response in progress closes the connection
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

    def on_headers_complete(self) -> None:
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
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """Bytes that are no request followed a request still being answered (a body longer
        than its Content-Length, say): answer that request first, then close.

        uvicorn would write its 400 at once and close, so the client got a bare 400 in
        place of the answer to the request it sent (BadDigest for a short body). Nothing
        more is read from the connection; the app's response closes it.
        """
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
        super().on_message_complete()
