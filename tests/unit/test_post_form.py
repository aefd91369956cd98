"""gateway/wire/form.py: the streaming multipart/form-data reader of PostObject.

The same form, cut into pieces at any points, reads to the same fields and file bytes; the
fields before the file are capped; the file streams with only a boundary's length held
back; malformed forms are S3's errors."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway import errors
from gateway.routing import resolve
from gateway.wire import form as wire_form
from gateway.wire.form import (
    Form,
    post_response,
    read_fields,
    redirect_location,
    tagging_query,
)

BOUNDARY = "----cairnBoundary7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def build(
    fields: Sequence[tuple[str, str | bytes]],
    file: bytes,
    *,
    filename: str | None = "upload.bin",
    after: Sequence[tuple[str, str]] = (),
    boundary: str = BOUNDARY,
) -> bytes:
    """A form as browsers and requests send it: CRLF lines, the file last (or not)."""
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value if isinstance(value, bytes) else value.encode()
        out += b"\r\n"
    disposition = 'form-data; name="file"' + (f'; filename="{filename}"' if filename else "")
    out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
    out += b"Content-Type: application/octet-stream\r\n\r\n" + file + b"\r\n"
    for name, value in after:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


async def pieces(data: bytes, cuts: Sequence[int]) -> AsyncIterator[bytes]:
    last = 0
    for cut in sorted(set(cuts)):
        if 0 < cut < len(data):
            yield data[last:cut]
            last = cut
    yield data[last:]


async def read_all(form: Form) -> bytes:
    out = bytearray()
    async for piece in form.file():
        out += piece
    return bytes(out)


async def parse(data: bytes, cuts: Sequence[int] = (), **kw: int) -> tuple[Form, bytes]:
    form = await read_fields(pieces(data, cuts), CONTENT_TYPE, **kw)
    return form, await read_all(form)


# Bytes that look like the start of a boundary, inside the file, are only data.
TRICKY = [
    b"",
    b"x",
    b"\r\n",
    b"\r\n--",
    f"\r\n--{BOUNDARY[:-1]}".encode(),
    f"--{BOUNDARY}".encode(),  # without the CRLF before it: not a delimiter
    f"\r\n-{BOUNDARY}\r\n".encode(),
    b"\r\n\r\n\r\n--\r\n",
]


@settings(max_examples=300, deadline=None)
@given(
    head=st.sampled_from(TRICKY),
    body=st.binary(max_size=2000),
    tail=st.sampled_from(TRICKY),
    values=st.lists(st.text(max_size=40), min_size=0, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30),
)
def test_any_chunking_reads_the_same_form(
    head: bytes, body: bytes, tail: bytes, values: list[str], cuts: list[int]
) -> None:
    fields = [(f"x-amz-meta-f{i}", v.replace("\r", "")) for i, v in enumerate(values)]
    file = head + body + tail
    # A sender picks a boundary that its content does not contain (RFC 2046 5.1.1).
    assume(f"\r\n--{BOUNDARY}".encode() not in file)
    data = build([("key", "k"), *fields], file, after=[("ignored", "after the file")])

    form, got = asyncio.run(parse(data, cuts))

    assert got == file
    assert form.fields == [("key", "k"), *fields]
    assert form.file_header.filename == "upload.bin"
    assert form.file_header.content_type == "application/octet-stream"


def test_one_byte_pieces() -> None:
    file = os.urandom(3000) + f"\r\n--{BOUNDARY[:-1]}".encode()
    data = build([("key", "a"), ("acl", "private")], file)
    form, got = asyncio.run(parse(data, range(len(data))))
    assert got == file
    assert form.values() == {"key": "a", "acl": "private"}


def test_a_large_file_streams_with_only_a_boundary_held_back() -> None:
    """The file is handed on piece by piece as it arrives: each piece received is out
    (but for the few bytes that could start the delimiter) before the next is read."""
    chunk = 256 * 1024
    file = os.urandom(8 * chunk)
    data = build([("key", "big")], file)
    received = 0

    async def counting() -> AsyncIterator[bytes]:
        nonlocal received
        for i in range(0, len(data), chunk):
            received = i + min(chunk, len(data) - i)
            yield data[i : i + chunk]

    async def run() -> None:
        form = await read_fields(counting(), CONTENT_TYPE)
        handed = 0
        async for piece in form.file():
            handed += len(piece)
            assert received - handed <= chunk + 1024  # one piece (and the fields) behind
        assert handed == len(file)

    asyncio.run(run())


def test_field_names_keep_their_case_but_values_are_by_lower_case_name() -> None:
    data = build([("kEy", "a"), ("Content-Type", "text/plain"), ("KEY", "second")], b"z")
    form, _ = asyncio.run(parse(data))
    assert form.fields[0] == ("kEy", "a")
    assert form.values() == {"key": "a", "content-type": "text/plain"}


def test_a_preamble_and_padding_after_boundaries_are_allowed() -> None:
    data = build([("key", "a")], b"body").replace(
        f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY} \t\r\n".encode()
    )
    form, got = asyncio.run(parse(b"this is a preamble\r\n" + data))
    assert (form.values(), got) == ({"key": "a"}, b"body")


def test_a_quoted_boundary_and_utf8_values() -> None:
    data = build([("key", "été/ü.txt")], b"1", filename="naïve.txt")
    form = asyncio.run(read_fields(pieces(data, []), f'multipart/form-data; boundary="{BOUNDARY}"'))
    assert form.values()["key"] == "été/ü.txt"
    assert form.file_header.filename == "naïve.txt"


def test_fields_before_the_file_are_capped() -> None:
    data = build([("key", "a"), ("x-amz-meta-big", "v" * 30_000)], b"1")
    with pytest.raises(errors.MaxPostPreDataLengthExceeded):
        asyncio.run(parse(data, range(0, len(data), 4096)))
    small = build([("key", "a"), ("x-amz-meta-ok", "v" * 1000)], b"1")
    with pytest.raises(errors.MaxPostPreDataLengthExceeded):
        asyncio.run(parse(small, max_pre_data=500))
    assert asyncio.run(parse(small))[1] == b"1"


def test_a_form_without_file_is_invalid_argument() -> None:
    data = build([("key", "a")], b"").split(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"'.encode()
    )[0]
    data += f"--{BOUNDARY}--\r\n".encode()
    with pytest.raises(errors.InvalidArgument) as exc:
        asyncio.run(parse(data))
    assert exc.value.extra["ArgumentName"] == "file"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"no boundary at all",
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\nunterminated'.encode(),
        f"--{BOUNDARY}\r\nX-Other: 1\r\n\r\nv\r\n--{BOUNDARY}--".encode(),
        f'--{BOUNDARY}\r\nContent-Disposition: attachment; name="k"\r\n\r\nv\r\n'.encode(),
        f"--{BOUNDARY}junk\r\n".encode(),
    ],
)
def test_malformed_forms(data: bytes) -> None:
    with pytest.raises(errors.MalformedPOSTRequest):
        asyncio.run(parse(data))


def test_a_file_cut_off_before_its_boundary_is_malformed() -> None:
    data = build([("key", "a")], b"0123456789")
    cut = data[: data.index(b"0123456789") + 5]

    async def run() -> None:
        form = await read_fields(pieces(cut, []), CONTENT_TYPE)
        with pytest.raises(errors.MalformedPOSTRequest):
            await read_all(form)

    asyncio.run(run())


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "", "multipart/mixed; boundary=x"],
)
def test_a_post_that_is_not_multipart_form_data_is_refused(content_type: str) -> None:
    with pytest.raises(errors.PreconditionFailed) as exc:
        wire_form.boundary_of(content_type)
    assert "multipart/form-data" in exc.value.extra["Condition"]


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
def test_a_missing_boundary_is_malformed(content_type: str) -> None:
    with pytest.raises(errors.MalformedPOSTRequest):
        wire_form.boundary_of(content_type)


def test_tagging_field_becomes_the_tagging_header() -> None:
    doc = (
        "<Tagging><TagSet><Tag><Key>0</Key><Value>a b</Value></Tag>"
        "<Tag><Key>k&amp;1</Key><Value></Value></Tag></TagSet></Tagging>"
    )
    assert tagging_query(doc) == "0=a%20b&k%261="
    with pytest.raises(errors.MalformedXML):
        tagging_query("<Tagging><TagSet>")
    too_many = "".join(f"<Tag><Key>{i}</Key><Value>v</Value></Tag>" for i in range(11))
    with pytest.raises(errors.BadRequest):
        tagging_query(f"<Tagging><TagSet>{too_many}</TagSet></Tagging>")
    twice = "<Tag><Key>a</Key><Value>1</Value></Tag>" * 2
    with pytest.raises(errors.InvalidTag):
        tagging_query(f"<Tagging><TagSet>{twice}</TagSet></Tagging>")


def test_answers() -> None:
    body = post_response("http://h/b/k%20x", "b", "k x", '"e"').decode()
    assert "<PostResponse><Location>" in body  # no xmlns, as S3 answers
    assert "<Location>http://h/b/k%20x</Location>" in body
    assert '<Bucket>b</Bucket><Key>k x</Key><ETag>"e"</ETag>' in body
    assert (
        redirect_location("http://r/done", "b", "a/k", '"e1"')
        == "http://r/done?bucket=b&key=a%2Fk&etag=%22e1%22"
    )
    assert redirect_location("http://r/?x=1", "b", "k", '"e"').startswith("http://r/?x=1&bucket=")


def test_post_on_a_bucket_is_post_object_in_both_addressing_styles() -> None:
    assert resolve("POST", "/b", "").op == "PostObject"
    assert resolve("POST", "/b/", "").op == "PostObject"
    virtual = resolve("POST", "/", "", "b.s3.test", "s3.test")
    assert (virtual.op, virtual.bucket, virtual.key) == ("PostObject", "b", None)


def test_unquoted_parameter_values_as_dotnet_sends_them() -> None:
    data = build([("key", "a")], b"body").replace(b'name="key"', b"name=key")
    form, got = asyncio.run(parse(data))
    assert (form.values(), got) == ({"key": "a"}, b"body")


@pytest.mark.parametrize("size", [0, 1, 30, 100, 5000])
def test_the_closing_delimiter_split_at_every_point(size: int) -> None:
    """Two or three pieces cut around the file's end: each cut inside the delimiter, the
    file short or long, still ends the file exactly there."""
    file = bytes(range(256)) * (size // 256) + b"\r" * (size % 256)
    data = build([("key", "a")], file)
    end = data.index(f"\r\n--{BOUNDARY}--".encode(), len(data) - 200)
    for cut in range(max(1, end - 40), min(len(data), end + 45)):
        assert asyncio.run(parse(data, [cut]))[1] == file
        assert asyncio.run(parse(data, [cut - 1, cut]))[1] == file
