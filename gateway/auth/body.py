"""The request body as the object layer sees it: decoded, hashed and verified while streaming.

Request path step: body integrity, after ``authenticate`` and before anything is written.
``BodyReader`` wraps the raw ASGI body stream and yields the object's bytes:

* aws-chunked bodies (a STREAMING-* payload mode) are de-framed by
  ``gateway.auth.chunked``, with chunk/trailer signatures checked on the fly; the framing
  follows the payload mode alone, as on AWS: Content-Encoding aws-chunked on a body sent
  whole (a payload hash or UNSIGNED-PAYLOAD) is only a coding to drop, not a framing;
* a hex x-amz-content-sha256 is checked against the SHA-256 of what was received;
* x-amz-checksum-* values (header or trailer) and Content-MD5 are checked at the end.

Every check raises before the iteration finishes, so a caller that commits only after
consuming the whole reader never stores a body that failed verification.

Hashing is CPU work: incoming pieces are gathered to ~1 MiB and buffers of 256 KiB or more
are decoded and hashed in a worker thread (hashlib, zlib, crc32c and awscrt release the
GIL), small ones inline. Memory stays at about one gathered buffer per request.

The pieces yielded are views of that buffer, valid until the reader is resumed: a consumer
copies what it keeps (the object writer copies every piece into a block buffer at once).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping

from blockstore.buffers import BufferPool
from gateway import checksums
from gateway.auth import sigv4
from gateway.auth.chunked import ChunkedDecoder
from gateway.auth.verify import AuthResult
from gateway.errors import (
    BadDigest,
    IncompleteBody,
    InvalidDigest,
    InvalidRequest,
    XAmzContentSHA256Mismatch,
)

__all__ = ["BodyReader"]

GATHER_BYTES = 1024 * 1024
# Room for one more piece after GATHER_BYTES-1 (uvloop reads at most 256 KiB at a time).
GATHER_CAPACITY = GATHER_BYTES + 256 * 1024
GATHER_BUFFERS = BufferPool(GATHER_CAPACITY, keep=4)
THREAD_THRESHOLD = 256 * 1024
CHECKSUM_TYPES = frozenset({"FULL_OBJECT", "COMPOSITE"})


class BodyReader:
    """Wraps the raw request body stream; yields the decoded object bytes."""

    def __init__(
        self,
        stream: AsyncIterator[bytes],
        auth: AuthResult,
        headers: Mapping[str, str],
        *,
        check_md5: bool = True,
    ) -> None:
        """``check_md5=False`` when the caller computes the body's MD5 anyway (PutObject and
        UploadPart: the ETag) and compares it with Content-MD5 itself, so as not to hash
        every byte twice."""
        headers = {name.lower(): value for name, value in headers.items()}
        self._stream = stream
        self._started = False
        self.checksums: dict[str, str] = {}
        self.decoded_length = 0

        mode = auth.payload_mode
        self._chunked = mode.startswith("STREAMING-")
        self._decoder: ChunkedDecoder | None = None
        if self._chunked:
            allow_trailers = mode.endswith("-TRAILER") or "x-amz-trailer" in headers
            self._decoder = ChunkedDecoder(auth.chunk_signing, allow_trailers=allow_trailers)
        # A hex x-amz-content-sha256 covers the bytes as sent (the encoded body if chunked).
        self._content_sha256 = (
            mode.lower() if len(mode) == 64 and mode not in sigv4.PAYLOAD_MARKERS else None
        )
        self._raw_hash = hashlib.sha256() if self._content_sha256 else None
        decoded_length = _int_header(headers, "x-amz-decoded-content-length")
        self._expected_length = (
            decoded_length if self._chunked else _int_header(headers, "content-length")
        )

        # Each helper validates its own headers; the first invalid one decides the error.
        self.checksum_type = _checksum_type(headers)
        self._declared = _declared_checksums(headers)
        self._trailer_names = _trailer_names(headers)
        wanted = _wanted_algorithms(headers, self._declared, self._trailer_names)
        # The algorithms the client named (header, trailer or SDK header), before the
        # server adds its own (also_hash): UploadPart compares them with the upload's.
        self.named_algorithms = frozenset(wanted)
        self._hashers = {name: checksums.new(name) for name in sorted(wanted)}
        self._content_md5 = _content_md5(headers)
        self._md5 = (
            hashlib.md5(usedforsecurity=False)
            if self._content_md5 is not None and check_md5
            else None
        )

    def also_hash(self, name: str) -> None:
        """Hash with ``name`` too, declared or not (UploadPart: a part of an upload made
        with a checksum algorithm gets that algorithm's checksum even when the client sent
        none, so the object's checksum can be made from every part's)."""
        if self._started:
            raise RuntimeError("also_hash must come before the body is read")
        cls = checksums.algorithm(name)
        self._hashers.setdefault(cls.name, cls())

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Decoded payload bytes, in pieces; raises on any integrity failure before ending."""
        if self._started:
            raise RuntimeError("a BodyReader can only be iterated once")
        self._started = True
        if (
            self._raw_hash is None
            and self._decoder is None
            and not self._hashers
            and self._md5 is None
        ):
            # Nothing to decode or hash (UNSIGNED-PAYLOAD, no checksums): pass pieces through
            # without gathering them into 1 MiB buffers or hopping to a thread.
            async for piece in self._stream:
                if piece:
                    self.decoded_length += len(piece)
                    yield piece
            self._finish()
            return
        # Pieces are gathered, in place, into one pooled buffer per request: a fresh 1 MiB
        # bytes per step (a join, then a slice per decoded piece) cost more in page faults
        # than the decoding and hashing it fed.
        buf = GATHER_BUFFERS.take(GATHER_CAPACITY)
        fill = 0
        async for piece in self._stream:
            n = len(piece)
            if not n:
                continue
            if fill and fill + n > len(buf):
                for out in await self._process(buf[:fill]):
                    yield out
                fill = 0
            if n > len(buf):  # larger than any piece the server hands out: as it is
                for out in await self._process(piece):
                    yield out
                continue
            buf[fill : fill + n] = piece
            fill += n
            if fill >= GATHER_BYTES:
                for out in await self._process(buf[:fill]):
                    yield out
                fill = 0
        if fill:
            for out in await self._process(buf[:fill]):
                yield out
        self._finish()

    async def _process(self, raw: bytes | memoryview) -> list[memoryview]:
        if len(raw) >= THREAD_THRESHOLD:
            pieces = await asyncio.to_thread(self._step, raw)
        else:
            pieces = self._step(raw)
        self.decoded_length += sum(map(len, pieces))
        return pieces

    def _step(self, raw: bytes | memoryview) -> list[memoryview]:
        """Decode and hash one gathered buffer (runs inline or in a worker thread)."""
        if self._raw_hash is not None:
            self._raw_hash.update(raw)
        pieces = self._decoder.feed(raw) if self._decoder is not None else [memoryview(raw)]
        produced = 0
        for piece in pieces:
            produced += len(piece)
            for hasher in self._hashers.values():
                hasher.update(piece)
            if self._md5 is not None:
                self._md5.update(piece)
        # Refuse early rather than read on past the length the client committed to.
        if (
            self._chunked
            and self._expected_length is not None
            and self.decoded_length + produced > self._expected_length
        ):
            raise IncompleteBody("The decoded body is longer than x-amz-decoded-content-length.")
        return pieces

    def _finish(self) -> None:
        if self._decoder is not None:
            self._decoder.finish()
        if self._expected_length is not None and self.decoded_length != self._expected_length:
            raise IncompleteBody()
        if self._raw_hash is not None and not hmac.compare_digest(
            self._raw_hash.hexdigest(), self._content_sha256 or ""
        ):
            raise XAmzContentSHA256Mismatch(
                ClientComputedContentSHA256=self._content_sha256 or "",
                S3ComputedContentSHA256=self._raw_hash.hexdigest(),
            )
        if self._md5 is not None and not hmac.compare_digest(
            self._md5.digest(), self._content_md5 or b""
        ):
            raise BadDigest("The Content-MD5 you specified did not match what we received.")

        trailers = self._decoder.trailers if self._decoder is not None else {}
        for name in self._trailer_names:
            if name not in trailers:
                raise InvalidRequest(
                    f"The trailing header {name} declared in x-amz-trailer was not sent."
                )
        declared = dict(self._declared)
        for header, value in trailers.items():
            cls = checksums.BY_HEADER.get(header)
            if cls is None:
                continue  # other trailers carry no integrity information for us
            if header not in self._trailer_names:
                # Only declared trailers were hashed while streaming; AWS requires the
                # declaration (x-amz-trailer) for exactly that reason.
                raise InvalidRequest(
                    f"The trailing header {header} was not declared in x-amz-trailer."
                )
            raw = checksums.decode_value(cls.name, value, header=header)
            if cls.name in declared and declared[cls.name] != raw:
                raise BadDigest(
                    f"The {cls.name} you specified did not match the calculated checksum."
                )
            declared[cls.name] = raw
        for name, hasher in self._hashers.items():
            digest = hasher.digest()
            if name in declared:
                checksums.verify(name, declared[name], digest)
            self.checksums[name] = base64.b64encode(digest).decode("ascii")


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()):  # isdigit() alone takes "²", int() not
        raise InvalidRequest(f"Value for {name} header is invalid.")
    return int(value)


def _checksum_type(headers: Mapping[str, str]) -> str | None:
    value = headers.get("x-amz-checksum-type")
    if value is None:
        return None
    checksum_type = value.strip().upper()
    if checksum_type not in CHECKSUM_TYPES:
        raise InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    return checksum_type


def _declared_checksums(headers: Mapping[str, str]) -> dict[str, bytes]:
    """Checksums the client declared in headers, as raw digests, by algorithm name."""
    declared = {
        cls.name: checksums.decode_value(cls.name, headers[header])
        for header, cls in checksums.BY_HEADER.items()
        if header in headers
    }
    if len(declared) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    return declared


def _trailer_names(headers: Mapping[str, str]) -> list[str]:
    """The checksum trailers x-amz-trailer announces (only those are hashed while streaming)."""
    names = []
    for name in filter(
        None, (n.strip().lower() for n in headers.get("x-amz-trailer", "").split(","))
    ):
        if name not in checksums.BY_HEADER:
            raise InvalidRequest(
                f"The value specified in the x-amz-trailer header ({name}) is not supported."
            )
        names.append(name)
    return names


def _wanted_algorithms(
    headers: Mapping[str, str], declared: Mapping[str, bytes], trailer_names: list[str]
) -> set[str]:
    """Every algorithm to hash with: declared in a header or a trailer, or asked for by the
    SDK (its checksum is returned to the client even when none is sent to compare)."""
    wanted = set(declared) | {checksums.BY_HEADER[name].name for name in trailer_names}
    if "x-amz-sdk-checksum-algorithm" in headers:
        try:
            wanted.add(checksums.algorithm(headers["x-amz-sdk-checksum-algorithm"]).name)
        except InvalidRequest:
            raise InvalidRequest(
                "Value for x-amz-sdk-checksum-algorithm header is invalid."
            ) from None
    return wanted


def _content_md5(headers: Mapping[str, str]) -> bytes | None:
    if "content-md5" not in headers:
        return None
    try:
        md5 = base64.b64decode(headers["content-md5"].strip(), validate=True)
    except (binascii.Error, ValueError):
        md5 = b""
    if len(md5) != 16:
        raise InvalidDigest()
    return md5
