"""The S3 XML wire format: bounded parsing of request bodies, fast rendering of responses.

Requests are parsed with xmltodict (namespaces stripped, size capped). Responses are
built as strings: listings of 1,000 keys are on the hot path, and escaping text into a
template is several times faster than building a tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from xml.parsers.expat import ExpatError
from xml.sax.saxutils import escape

import xmltodict

from gateway.errors import MalformedXML

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_BODY = 2 << 20  # AWS caps these bodies (DeleteObjects: 1,000 keys) far below this


def parse(body: bytes, root: str, *, keep_whitespace: bool = False) -> dict[str, Any]:
    """The children of the root element, or MalformedXML.

    ``keep_whitespace``: element text is kept exactly, for documents whose text may be
    all blanks (a DeleteObjects <Key> of " "); the blanks between elements then show up
    as "#text" entries beside child elements, which callers ignore."""
    if len(body) > MAX_BODY:
        raise MalformedXML()
    try:
        doc = xmltodict.parse(
            body,
            process_namespaces=True,
            namespaces={S3_NS: None},
            disable_entities=True,
            strip_whitespace=not keep_whitespace,
        )
    except (ExpatError, ValueError, LookupError):
        # LookupError: an XML declaration naming an encoding Python does not know.
        raise MalformedXML() from None
    if not isinstance(doc, dict) or len(doc) != 1:
        raise MalformedXML()
    ((name, value),) = doc.items()
    if name.rsplit(":", 1)[-1] != root:
        raise MalformedXML()
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedXML()
    return {k.rsplit(":", 1)[-1]: v for k, v in value.items() if not k.startswith(("@", "#text"))}


def as_list(value: Any) -> list[Any]:
    """xmltodict gives a dict for one child and a list for several."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def text(value: object) -> str:
    return escape(str(value))


def el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def opt(name: str, value: object | None) -> str:
    return "" if value is None else el(name, value)


def document(root: str, children: Iterable[str]) -> bytes:
    return (DECLARATION + f'<{root} xmlns="{S3_NS}">' + "".join(children) + f"</{root}>").encode()


def bool_text(b: bool) -> str:
    return "true" if b else "false"
