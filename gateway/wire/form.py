"""multipart/form-data of a browser upload (PostObject), read as a stream.

S3's POST form carries its credentials and the object's settings as fields and the
object's bytes as the field named ``file``, which must come last. So the reader is in two
phases: ``read_fields`` buffers only what comes before the file (at most
``MAX_PRE_DATA`` bytes, AWS's cap, refused with MaxPostPreDataLengthExceeded beyond it),
and ``Form.file`` then hands on the file's bytes as they arrive, holding back only the
few bytes that could be the start of the closing boundary, so memory stays at one
received piece whatever the upload's size. Fields after the file are read and dropped,
as AWS ignores them.

Any chunking of the input gives the same result: a boundary split across pieces is found
because the bytes that could begin one are carried into the next search.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from gateway.errors import (
    BadRequest,
    InvalidArgument,
    InvalidTag,
    MalformedPOSTRequest,
    MalformedXML,
    MaxPostPreDataLengthExceeded,
    PreconditionFailed,
)
from gateway.wire import xml

__all__ = [
    "MAX_PRE_DATA",
    "FileHeader",
    "Form",
    "post_response",
    "read_fields",
    "redirect_location",
    "tagging_query",
]

MAX_PRE_DATA = 20 * 1024  # AWS: the fields before the file, their part headers included
_MAX_BOUNDARY = 70  # RFC 2046
_PADDING = b" \t"  # RFC 2046 transport padding after a boundary


@dataclass(frozen=True)
class FileHeader:
    """What the file part says of itself (its own headers, not the form's fields)."""

    filename: str | None
    content_type: str | None


@dataclass
class Form:
    """The fields before the file, in order, with names as sent; then the file's bytes."""

    fields: list[tuple[str, str]]
    file_header: FileHeader
    _source: _Source = field(repr=False)
    _started: bool = field(default=False, repr=False)

    def values(self) -> dict[str, str]:
        """Fields by lower-cased name (S3 matches form field names case-insensitively);
        the first of repeated names wins."""
        out: dict[str, str] = {}
        for name, value in self.fields:
            out.setdefault(name.lower(), value)
        return out

    async def file(self) -> AsyncIterator[bytes | memoryview]:
        """The file's bytes, in pieces as received; the form after it is drained unread.
        A stream that ends before the file's closing boundary is MalformedPOSTRequest."""
        if self._started:
            raise RuntimeError("a form's file can only be read once")
        self._started = True
        async for piece in self._source.file_pieces():
            yield piece


def boundary_of(content_type: str) -> bytes:
    """The boundary from a Content-Type header; a POST that is not multipart/form-data is
    refused as S3 refuses it (412 with the condition it failed)."""
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "multipart/form-data":
        raise PreconditionFailed(
            Condition="Bucket POST must be of the enclosure-type multipart/form-data"
        )
    boundary = _params(params).get("boundary", "")
    if not boundary or len(boundary) > _MAX_BOUNDARY:
        raise MalformedPOSTRequest()
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedPOSTRequest() from None


async def read_fields(
    stream: AsyncIterator[bytes], content_type: str, *, max_pre_data: int = MAX_PRE_DATA
) -> Form:
    """Read the form up to the start of the file's bytes. No file field: InvalidArgument."""
    source = _Source(stream, boundary_of(content_type), max_pre_data)
    fields, header = await source.read_fields()
    return Form(fields, header, source)


class _Source:
    """The stream and what has been received of it but not yet handed on."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes, limit: int) -> None:
        self._stream = stream.__aiter__()
        self._dash = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary  # ends every part's content
        self._limit = limit
        self._buf = bytearray()
        self._pos = 0  # read_fields: how far _buf has been parsed
        self._ended = False

    async def _fill(self) -> bool:
        """One more piece into the buffer; False at the end of the stream."""
        if self._ended:
            return False
        try:
            piece = await self._stream.__anext__()
        except StopAsyncIteration:
            self._ended = True
            return False
        self._buf += piece
        return True

    async def _find(self, needle: bytes, start: int) -> int:
        """Position of needle at or after start, reading on as needed, within the limit."""
        while True:
            idx = self._buf.find(needle, start)
            if idx >= 0:
                if idx + len(needle) > self._limit:
                    raise MaxPostPreDataLengthExceeded(MaxPostPreDataLength=str(self._limit))
                return idx
            if len(self._buf) > self._limit + len(needle):
                raise MaxPostPreDataLengthExceeded(MaxPostPreDataLength=str(self._limit))
            if not await self._fill():
                raise MalformedPOSTRequest()

    async def _at_least(self, n: int) -> None:
        while len(self._buf) < n:
            if not await self._fill():
                raise MalformedPOSTRequest()

    async def _after_boundary(self, pos: int) -> tuple[int, bool]:
        """Past a boundary at pos: (where the part's header lines start, whether this was
        the closing boundary). The header lines start with the CRLF that ends the boundary
        line, so that a part without headers is simply CRLF CRLF."""
        while True:
            await self._at_least(pos + 2)
            if self._buf[pos] in _PADDING:
                pos += 1
                continue
            two = bytes(self._buf[pos : pos + 2])
            if two == b"--":
                return pos + 2, True
            if two == b"\r\n":
                return pos, False
            raise MalformedPOSTRequest()

    async def read_fields(self) -> tuple[list[tuple[str, str]], FileHeader]:
        fields: list[tuple[str, str]] = []
        first = await self._find(self._dash, 0)
        if first and self._buf[first - 2 : first] != b"\r\n":  # a preamble ends with CRLF
            first = await self._find(b"\r\n" + self._dash, 0) + 2
        pos, closing = await self._after_boundary(first + len(self._dash))
        while not closing:
            end = await self._find(b"\r\n\r\n", pos)
            name, header = _part_header(bytes(self._buf[pos + 2 : end]))
            pos = end + 4
            if name.lower() == "file":
                self._pos = pos
                return fields, header
            end = await self._find(self._delimiter, pos)
            fields.append((name, _text(bytes(self._buf[pos:end]))))
            pos, closing = await self._after_boundary(end + len(self._delimiter))
        raise InvalidArgument(
            "POST requires exactly one file upload per request.",
            ArgumentName="file",
            ArgumentValue="0",
        )

    async def file_pieces(self) -> AsyncIterator[bytes | memoryview]:
        """The file's content: every byte before the delimiter that ends it. The last
        len(delimiter) - 1 bytes seen are held back, since they may begin it; a received
        piece is searched where it joins them and then on its own, so it is handed on as
        a view, without being copied."""
        delimiter = self._delimiter
        keep = len(delimiter) - 1
        carry = bytes(self._buf[self._pos :])
        self._buf = bytearray()  # the fields' bytes are no longer needed
        idx = carry.find(delimiter)
        if idx < 0 and len(carry) > keep:
            yield memoryview(carry)[: len(carry) - keep]
            carry = carry[len(carry) - keep :]
        while idx < 0:
            piece = await self._next_piece()
            if piece is None:
                raise MalformedPOSTRequest()
            joint = carry + piece[:keep]  # a delimiter that starts in carry ends in here
            idx = joint.find(delimiter)
            if idx >= 0:
                carry = joint
                break
            idx = piece.find(delimiter)
            if idx >= 0:
                if carry:
                    yield carry
                carry = piece
                break
            if len(piece) <= keep:
                carry = joint
                if len(carry) > keep:
                    yield memoryview(carry)[: len(carry) - keep]
                    carry = carry[len(carry) - keep :]
                continue
            if carry:
                yield carry
            yield memoryview(piece)[: len(piece) - keep]
            carry = piece[len(piece) - keep :]
        if idx:
            yield memoryview(carry)[:idx]
        await self._drain()

    async def _next_piece(self) -> bytes | None:
        if self._ended:
            return None
        try:
            return await self._stream.__anext__()
        except StopAsyncIteration:
            self._ended = True
            return None

    async def _drain(self) -> None:
        """Reads the rest of the form (fields after the file, which S3 ignores) so that the
        connection stays usable."""
        while await self._next_piece() is not None:
            pass


def _part_header(block: bytes) -> tuple[str, FileHeader]:
    """The field name and the file headers from a part's header lines."""
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise MalformedPOSTRequest()
        headers[name.strip().decode("latin-1").lower()] = _text(value.strip())
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MalformedPOSTRequest()
    kind, _, params = disposition.partition(";")
    values = _params(params)
    if kind.strip().lower() != "form-data" or "name" not in values:
        raise MalformedPOSTRequest()
    return values["name"], FileHeader(values.get("filename"), headers.get("content-type"))


def _params(text: str) -> dict[str, str]:
    """``; a=b; c="d e"`` parameters, names lower-cased, quoted values unquoted."""
    out: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in "; \t":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        name = text[i:eq].strip().lower()
        i = eq + 1
        if i < n and text[i] == '"':
            value, i = _quoted(text, i + 1)
        else:
            end = text.find(";", i)
            end = n if end < 0 else end
            value, i = text[i:end].strip(), end
        out.setdefault(name, value)
    return out


def _quoted(text: str, i: int) -> tuple[str, int]:
    """A quoted value from just after its opening quote, and where it ended. No backslash
    escapes (RFC 7578 4.2: browsers percent-encode a quote in a file name and send a
    Windows path's backslashes as they are)."""
    end = text.find('"', i)
    if end < 0:
        raise MalformedPOSTRequest()
    return text[i:end], end + 1


def _text(raw: bytes) -> str:
    """A field's value or header as text: UTF-8, as browsers send a form of a UTF-8 page."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPOSTRequest() from None


# --- what S3 reads from a form and answers to one ----------------------------------------

MAX_TAGS = 10  # AWS's limit on an object's tags


def tagging_query(document: str) -> str:
    """A ``tagging`` field (a <Tagging> document, as S3's POST takes it) as the
    ``x-amz-tagging`` header PutObject takes: ``k1=v1&k2=v2``."""
    body = xml.parse(document.encode("utf-8"), "Tagging")
    tag_set = body.get("TagSet") or {}
    if not isinstance(tag_set, dict):
        raise MalformedXML()
    pairs: list[tuple[str, str]] = []
    for tag in xml.as_list(tag_set.get("Tag")):
        if not isinstance(tag, dict) or not isinstance(tag.get("Key"), str):
            raise MalformedXML()
        value = tag.get("Value") or ""
        if not isinstance(value, str):
            raise MalformedXML()
        pairs.append((tag["Key"], value))
    if len(pairs) > MAX_TAGS:
        raise BadRequest("Object tags cannot be greater than 10")
    if len({k for k, _ in pairs}) != len(pairs):
        raise InvalidTag("Cannot provide multiple Tags with the same key")
    return urlencode(pairs, quote_via=quote)


def post_response(location: str, bucket: str, key: str, etag: str) -> bytes:
    """The 201 answer's body (success_action_status=201). S3 sends it without the S3
    namespace, unlike its other documents, and clients look its elements up bare."""
    children = [
        xml.el("Location", location),
        xml.el("Bucket", bucket),
        xml.el("Key", key),
        xml.el("ETag", etag),
    ]
    return (xml.DECLARATION + "<PostResponse>" + "".join(children) + "</PostResponse>").encode()


def redirect_location(url: str, bucket: str, key: str, etag: str) -> str:
    """success_action_redirect with the stored object's bucket, key and quoted ETag."""
    query = urlencode({"bucket": bucket, "key": key, "etag": etag}, quote_via=quote)
    return url + ("&" if "?" in url else "?") + query
