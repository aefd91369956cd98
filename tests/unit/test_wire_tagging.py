"""The tagging wire format (gateway/wire/tagging.py): the <Tagging> document and the
x-amz-tagging header round-trip any valid tag set, and AWS's limits are refused with the
errors AWS gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import BadRequest, InvalidTag, MalformedXML
from gateway.wire import tagging as wire
from meta.records import ObjectHead, Upload

# Characters AWS allows in tags: letters of any script, digits, white space, + - = . _ : / @
_CHARS = st.characters(categories=["Lu", "Ll", "Lo", "Nd"], include_characters=" +-=._:/@\t")
_KEYS = st.text(_CHARS, min_size=1, max_size=wire.MAX_KEY_CHARS).filter(
    lambda k: not k.lower().startswith("aws:")
)
_VALUES = st.text(_CHARS, max_size=wire.MAX_VALUE_CHARS)


def _doc(*tags: tuple[str, str]) -> bytes:
    inner = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in tags)
    return f"<Tagging><TagSet>{inner}</TagSet></Tagging>".encode()


@given(st.dictionaries(_KEYS, _VALUES, max_size=wire.MAX_OBJECT_TAGS))
def test_document_round_trip(tags: dict[str, str]) -> None:
    assert wire.parse_tagging(wire.render(tags)) == dict(sorted(tags.items()))


@given(st.dictionaries(_KEYS, _VALUES, max_size=wire.MAX_OBJECT_TAGS))
def test_header_round_trip(tags: dict[str, str]) -> None:
    assert wire.parse_header(wire.header_value(tags)) == dict(sorted(tags.items()))


@given(st.dictionaries(_KEYS, _VALUES, max_size=wire.MAX_OBJECT_TAGS))
def test_tags_survive_the_version_and_upload_records(tags: dict[str, str]) -> None:
    head = ObjectHead("k")
    head.set_tags(tags)
    assert ObjectHead.from_bytes(head.to_bytes()).tags == tags
    up = Upload("u", "b", "k", tags=tags)
    assert Upload.from_bytes("u", up.to_bytes()).tags == tags


def test_no_tags_leave_no_entry() -> None:
    head = ObjectHead("k", extra={"other": 1})
    head.set_tags({"a": "1"})
    head.set_tags({})
    assert head.extra == {"other": 1}
    assert head.tags == {}


def test_whitespace_is_kept_and_formatting_ignored() -> None:
    body = b"""<?xml version="1.0"?>
    <Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <TagSet>
        <Tag><Key>a b</Key><Value>  </Value></Tag>
        <Tag>
          <Key>empty</Key>
          <Value></Value>
        </Tag>
        <Tag><Key>novalue</Key></Tag>
      </TagSet>
    </Tagging>"""
    assert wire.parse_tagging(body) == {"a b": "  ", "empty": "", "novalue": ""}
    assert wire.parse_tagging(b"<Tagging><TagSet/></Tagging>") == {}


@pytest.mark.parametrize(
    "body",
    [
        b"<Tagging><TagSet><Tag><Key>a</Key>",
        b"<Tagging/>",
        b"<Tagging><TagSet/><Extra/></Tagging>",
        b"<Tagging><TagSet><Other/></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Value>1</Value></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Key><b>x</b></Key></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet>text<Tag><Key>a</Key></Tag></TagSet></Tagging>",
        b"<Other><TagSet/></Other>",
        b"not xml",
    ],
)
def test_malformed(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        wire.parse_tagging(body)


@pytest.mark.parametrize(
    "tags, message",
    [
        ([("a", "1"), ("a", "2")], "Cannot provide multiple Tags with the same key"),
        ([(str(i), "v") for i in range(11)], "Object tags cannot be greater than 10"),
        ([("", "v")], "TagKey"),
        ([("k" * 129, "v")], "TagKey"),
        ([("k", "v" * 257)], "TagValue"),
        ([("k", "a&b")], "invalid characters"),
        ([("k<", "v")], "invalid characters"),
        ([("AWS:x", "v")], "aws:"),
    ],
)
def test_limits(tags: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidTag, match=message):
        wire.check_tags(tags, wire.MAX_OBJECT_TAGS)


def test_limits_apply_to_documents() -> None:
    with pytest.raises(InvalidTag, match="same key"):
        wire.parse_tagging(_doc(("a", "1"), ("a", "2")))
    with pytest.raises(InvalidTag, match="TagValue"):
        wire.parse_tagging(_doc(("k", "v" * 257)))
    with pytest.raises(InvalidTag, match="TagKey"):
        wire.parse_tagging(b"<Tagging><TagSet><Tag><Key></Key></Tag></TagSet></Tagging>")


def test_bucket_limit_is_fifty() -> None:
    fifty = [(f"k{i}", "v") for i in range(50)]
    assert len(wire.parse_tagging(_doc(*fifty), limit=wire.MAX_BUCKET_TAGS)) == 50
    with pytest.raises(InvalidTag):
        wire.parse_tagging(_doc(*fifty, ("one", "more")), limit=wire.MAX_BUCKET_TAGS)


def test_header() -> None:
    assert wire.parse_header("foo=bar&bar") == {"bar": "", "foo": "bar"}
    assert wire.parse_header("a%20b=c%2Fd") == {"a b": "c/d"}
    with pytest.raises(InvalidTag):
        wire.parse_header("a=1&a=2")
    with pytest.raises(BadRequest):
        wire.parse_header("&".join(f"k{i}=v" for i in range(11)))
    with pytest.raises(InvalidTag):
        wire.parse_header("k=%ff")  # not UTF-8


def test_tagging_count() -> None:
    assert wire.tagging_count({}) == {}
    assert wire.tagging_count({"a": "1", "b": "2"}) == {"x-amz-tagging-count": "2"}
