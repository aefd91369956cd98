"""aws-chunked body decoding, with SigV4 chunk and trailer signature verification.

Request path step: body integrity, between the raw request stream and the object writer.
``gateway.auth.body.BodyReader`` feeds this decoder the raw bytes as they arrive and
passes on the decoded object bytes. Wire format (Content-Encoding: aws-chunked)::

    hex-size[;chunk-signature=sig]\\r\\n <data> \\r\\n ... 0[;chunk-signature=sig]\\r\\n
    [name:value\\r\\n ... [x-amz-trailer-signature:sig\\r\\n]] \\r\\n

The decoder is an incremental, push-style state machine: chunk boundaries may fall
anywhere in the incoming pieces, and data is passed through as it arrives (never a whole
chunk buffered), so memory stays bounded by the caller's piece size. It is synchronous and
framework-free so BodyReader can run it in a worker thread for large buffers.

A bad chunk signature raises SignatureDoesNotMatch as soon as that chunk's data is
complete, i.e. before the stream ends and so before the caller can commit the object.
"""

from __future__ import annotations

import hashlib
import re

from gateway.auth.sigv4 import ChunkSigning, canonical_trailers, constant_time_equal
from gateway.errors import IncompleteBody, InvalidRequest, SignatureDoesNotMatch

__all__ = ["ChunkedDecoder"]

# A size line is "hex;ext=value..." and tiny; a trailer block holds a few checksums. The
# bounds stop a client from making us buffer an endless line.
MAX_LINE = 4096
MAX_TRAILER_BYTES = 16 * 1024
_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
TRAILER_SIGNATURE = "x-amz-trailer-signature"

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedDecoder:
    """Decode aws-chunked framing incrementally; verify signatures when ``signing`` is given.

    ``allow_trailers``: whether trailing headers may follow the final chunk (the payload
    mode ends in -TRAILER or x-amz-trailer was sent). With ``signing`` and trailers, the
    trailer block must carry a valid x-amz-trailer-signature.
    """

    def __init__(self, signing: ChunkSigning | None, *, allow_trailers: bool) -> None:
        self._signing = signing
        self._allow_trailers = allow_trailers
        self._state = _SIZE
        self._line = bytearray()
        self._remaining = 0
        self._end_seen = 0  # bytes of the "\r\n" after chunk data seen so far
        self._prev_signature = signing.seed_signature if signing else ""
        self._chunk_signature = ""
        self._chunk_hash = hashlib.sha256()
        self._trailer_lines: list[tuple[str, str]] = []
        self._trailer_signature: str | None = None
        self._trailer_bytes = 0
        self.trailers: dict[str, str] = {}
        self.encoded_length = 0

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes | bytearray | memoryview) -> list[memoryview]:
        """Consume raw bytes; return the decoded data pieces they contained, in order.

        The pieces are views of ``data`` (no copy), valid for as long as it is."""
        out: list[memoryview] = []
        view = memoryview(data)
        pos, end = 0, len(view)
        self.encoded_length += end
        while pos < end and self._state != _DONE:
            if self._state == _DATA:
                take = min(self._remaining, end - pos)
                piece = view[pos : pos + take]
                if self._signing:
                    self._chunk_hash.update(piece)
                out.append(piece)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._verify_chunk()
                    self._state, self._end_seen = _DATA_END, 0
            elif self._state == _DATA_END:
                if view[pos] != b"\r\n"[self._end_seen]:
                    raise InvalidRequest("Chunk data was longer than its declared size.")
                pos += 1
                self._end_seen += 1
                if self._end_seen == 2:
                    self._state = _SIZE
            else:
                pos = self._read_line(view, pos, end)
        # After the terminating blank line the request is over; any further bytes are not
        # part of the body (HTTP framing already bounded them), so they are ignored.
        return out

    def finish(self) -> None:
        """The raw stream ended: raise unless the body was complete."""
        if self._state == _DONE:
            return
        if self._state == _TRAILER and not self._line:
            # Tolerated: a stream that ends right after the final chunk line or the last
            # trailer line, without the closing blank line (some clients omit it).
            self._finish_trailers()
            return
        raise IncompleteBody()

    # --- lines ---------------------------------------------------------------------------

    def _read_line(self, data: memoryview, pos: int, end: int) -> int:
        limit = MAX_LINE if self._state == _SIZE else MAX_TRAILER_BYTES - self._trailer_bytes
        # Lines are short: look for the newline in a copy of no more than the line may
        # still hold, not in the rest of the buffer.
        window = bytes(data[pos : min(end, pos + limit - len(self._line) + 1)])
        newline = window.find(b"\n")
        stop = pos + (len(window) if newline < 0 else newline + 1)
        self._line += window[: stop - pos]
        if len(self._line) > limit:
            raise InvalidRequest("An aws-chunked size or trailer line is too long.")
        if newline >= 0:
            line = bytes(self._line)
            self._line.clear()
            if not line.endswith(b"\r\n"):
                raise InvalidRequest("Malformed aws-chunked encoding: lines must end in CRLF.")
            if self._state == _SIZE:
                self._size_line(line[:-2])
            else:
                self._trailer_bytes += len(line)
                self._trailer_line(line[:-2])
        return stop

    def _size_line(self, line: bytes) -> None:
        size_text, *extensions = line.split(b";")
        size_text = size_text.strip()
        if not _HEX_SIZE.fullmatch(size_text):
            raise InvalidRequest("Malformed aws-chunked encoding: invalid chunk size.")
        signature = ""
        for extension in extensions:
            name, _, value = extension.partition(b"=")
            if name.strip() == b"chunk-signature":
                signature = value.strip().decode("ascii", "replace")
        if self._signing and not signature:
            raise SignatureDoesNotMatch("A chunk of a signed aws-chunked body has no signature.")
        self._chunk_signature = signature
        self._chunk_hash = hashlib.sha256()
        self._remaining = int(size_text, 16)
        if self._remaining == 0:
            self._verify_chunk()  # the final chunk is signed too, over empty data
            self._state = _TRAILER
        else:
            self._state = _DATA

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self._finish_trailers()
            return
        if not self._allow_trailers:
            raise InvalidRequest("Trailing headers were sent without x-amz-trailer.")
        if self._trailer_signature is not None:
            raise InvalidRequest("x-amz-trailer-signature must be the last trailing header.")
        name, sep, value = line.decode("utf-8", "replace").partition(":")
        name, value = name.strip().lower(), value.strip()
        if not sep or not name:
            raise InvalidRequest("Malformed aws-chunked trailing header.")
        if name == TRAILER_SIGNATURE:
            self._trailer_signature = value
        else:
            self._trailer_lines.append((name, value))
            self.trailers[name] = value

    # --- signatures ----------------------------------------------------------------------

    def _verify_chunk(self) -> None:
        if not self._signing:
            return
        expected = self._signing.chunk_signature(self._prev_signature, self._chunk_hash.hexdigest())
        if not constant_time_equal(expected, self._chunk_signature):
            raise SignatureDoesNotMatch(
                "The chunk signature we calculated does not match the signature you provided."
            )
        self._prev_signature = expected

    def _finish_trailers(self) -> None:
        if self._signing and self._allow_trailers:
            if self._trailer_signature is None:
                raise SignatureDoesNotMatch(
                    "The trailing headers carry no x-amz-trailer-signature."
                )
            block = canonical_trailers(self._trailer_lines)
            expected = self._signing.trailer_signature(self._prev_signature, block)
            if not constant_time_equal(expected, self._trailer_signature):
                raise SignatureDoesNotMatch(
                    "The trailer signature we calculated does not match the signature you provided."
                )
        self._state = _DONE
