"""Wire format of object and bucket tags: the <Tagging> document of Put/GetObjectTagging
and Put/GetBucketTagging, and the ``x-amz-tagging`` header (``k1=v1&k2=v2``).

AWS's limits apply here, before anything is stored, so bad input changes nothing: at most
10 tags on an object (50 on a bucket), keys of 1-128 and values of 0-256 characters,
letters, digits, white space and ``+ - = . _ : / @`` only, no duplicate keys, and no
``aws:`` keys (those are AWS's own). A document that is not a <Tagging> of <Tag>s is
MalformedXML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from gateway.errors import BadRequest, InvalidTag, MalformedXML
from gateway.wire.xml import document, el, parse

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256

Tags = dict[str, str]

# AWS: "letters (in any language), numbers, and spaces representable in UTF-8, and the
# following characters: + - = . _ : / @". \w is letters, digits and "_" in any script.
_ALLOWED = re.compile(r"^[\w\s+\-=.:/@]*$")


def check_tags(pairs: Iterable[tuple[str, str]], limit: int) -> Tags:
    """The tags as stored (sorted by key, as GetObjectTagging lists them), or InvalidTag."""
    out: Tags = {}
    for key, value in pairs:
        if key in out:
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        if not 1 <= len(key) <= MAX_KEY_CHARS:
            raise InvalidTag("The TagKey you have provided is invalid")
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidTag("The TagValue you have provided is invalid")
        if not _ALLOWED.match(key) or not _ALLOWED.match(value):
            raise InvalidTag("The TagKey or TagValue you have provided has invalid characters")
        if key.lower().startswith("aws:"):
            raise InvalidTag("Your TagKey cannot be prefixed with aws:")
        out[key] = value
    if len(out) > limit:
        noun = "Object" if limit == MAX_OBJECT_TAGS else "Bucket"
        raise InvalidTag(f"{noun} tags cannot be greater than {limit}")
    return dict(sorted(out.items()))


def parse_tagging(body: bytes, limit: int = MAX_OBJECT_TAGS) -> Tags:
    """The tags of a <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging> body.

    Text is kept exactly (a value may be all blanks); the blanks between elements are
    ignored. Unknown elements, a missing TagSet or Key, or non-text content: MalformedXML."""
    doc = parse(body, "Tagging", keep_whitespace=True)
    if set(doc) != {"TagSet"}:
        raise MalformedXML()
    children = _children(doc["TagSet"], {"Tag"})
    pairs = [_tag(t) for t in _as_list(children.get("Tag"))]
    return check_tags(pairs, limit)


def _children(value: Any, allowed: set[str]) -> dict[str, Any]:
    """An element's child elements: blanks-only text and no children is an empty element."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if not isinstance(value, dict):
        raise MalformedXML()
    out = {k: v for k, v in value.items() if k != "#text" and not k.startswith("@")}
    text = value.get("#text")
    if set(out) - allowed or (isinstance(text, str) and text.strip()):
        raise MalformedXML()
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _tag(value: Any) -> tuple[str, str]:
    tag = _children(value, {"Key", "Value"})
    if "Key" not in tag:
        raise MalformedXML()
    return _text(tag["Key"]), _text(tag.get("Value"))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedXML()
    return value


def parse_header(value: str) -> Tags:
    """The tags of an ``x-amz-tagging`` header (URL-encoded, ``key`` alone is an empty
    value). More than 10 is BadRequest, as S3 answers for the header."""
    try:
        pairs = parse_qsl(value, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidTag("The header 'x-amz-tagging' shall be encoded as UTF-8") from None
    if len(pairs) > MAX_OBJECT_TAGS:
        raise BadRequest("Object tags cannot be greater than 10")
    return check_tags(pairs, MAX_OBJECT_TAGS)


def header_value(tags: Tags) -> str:
    """Tags as an ``x-amz-tagging`` header carries them."""
    return urlencode(list(tags.items()), quote_via=quote)


def tagging_count(tags: Tags) -> dict[str, str]:
    """x-amz-tagging-count of a GET or HEAD: only when the version has tags, as S3 sends it."""
    return {"x-amz-tagging-count": str(len(tags))} if tags else {}


def render(tags: Tags) -> bytes:
    """The <Tagging> document of GetObjectTagging and GetBucketTagging."""
    items = "".join(f"<Tag>{el('Key', k)}{el('Value', v)}</Tag>" for k, v in tags.items())
    return document("Tagging", [f"<TagSet>{items}</TagSet>"])
