"""User metadata on GET/HEAD: US-ASCII as it is, anything else RFC 2047 encoded as S3
returns it (the S3 user guide, "User-defined object metadata")."""

from __future__ import annotations

import email.header

from gateway.wire.headers import mail_safe


def sent_as_utf8(text: str) -> str:
    """A header value as the gateway holds it: the bytes received, one char per byte."""
    return text.encode("utf-8").decode("latin-1")


def test_ascii_values_are_returned_as_they_are():
    for value in ("AMAZONS3", "", "a b=c;d", "=?UTF-8?B?w6k=?="):
        assert mail_safe(value) == value


def test_the_user_guide_example():
    assert mail_safe(sent_as_utf8("ÄMÄZÕÑ S3")) == "=?UTF-8?B?w4PChE3Dg8KEWsODwpXDg8KRIFMz?="


def test_a_non_ascii_value_is_one_encoded_word_of_its_bytes_read_as_latin1():
    value = sent_as_utf8("Hello World\xe9 €")
    encoded = mail_safe(value)
    assert encoded.isascii() and encoded.startswith("=?UTF-8?B?")
    ((decoded, charset),) = email.header.decode_header(encoded)
    assert charset == "utf-8" and decoded.decode("utf-8") == value
