"""gateway/handlers/post_object.put_headers: a form's fields as the headers of the
PutObject it stands for (what the object stores, what authorization and the body reader
see)."""

from __future__ import annotations

import pytest

from gateway import errors
from gateway.handlers.post_object import put_headers


def test_object_headers_metadata_checksums_acl_and_tagging() -> None:
    fields = {
        "key": "k",
        "policy": "p",
        "x-amz-signature": "s",
        "x-amz-credential": "c",
        "success_action_status": "201",
        "content-type": "image/png",
        "cache-control": "max-age=60",
        "content-disposition": "inline",
        "expires": "Thu, 01 Dec 2033 16:00:00 GMT",
        "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        "x-amz-meta-owner": "alice",
        "x-amz-checksum-crc32": "AAAAAA==",
        "x-amz-storage-class": "STANDARD",
        "x-amz-server-side-encryption": "AES256",
        "acl": "public-read",
        "tagging": "<Tagging><TagSet><Tag><Key>a</Key><Value>b c</Value></Tag></TagSet></Tagging>",
        "x-ignore-me": "1",
    }
    assert put_headers(fields) == {
        "content-type": "image/png",
        "cache-control": "max-age=60",
        "content-disposition": "inline",
        "expires": "Thu, 01 Dec 2033 16:00:00 GMT",
        "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        "x-amz-meta-owner": "alice",
        "x-amz-checksum-crc32": "AAAAAA==",
        "x-amz-storage-class": "STANDARD",
        "x-amz-server-side-encryption": "AES256",
        "x-amz-acl": "public-read",
        "x-amz-tagging": "a=b%20c",
    }


def test_values_become_header_bytes() -> None:
    """A header arrives as one character per byte; a field's UTF-8 text is put in that
    form, so it is stored exactly as a PUT sending the same bytes stores it."""
    got = put_headers({"x-amz-meta-name": "é", "content-disposition": "日"})
    assert got["x-amz-meta-name"] == "é".encode().decode("latin-1")
    assert got["content-disposition"].encode("latin-1") == "日".encode()


def test_no_auth_or_form_control_field_leaks_into_the_headers() -> None:
    fields = {
        "x-amz-date": "20260101T000000Z",
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-security-token": "t",
        "awsaccesskeyid": "a",
        "signature": "s",
        "success_action_redirect": "http://x",
        "redirect": "http://x",
        "bucket": "b",
        "file": "f",
        "content-length": "1",
        "x-amz-copy-source": "other/key",
    }
    assert put_headers(fields) == {}


def test_malformed_tagging_is_refused() -> None:
    with pytest.raises(errors.MalformedXML):
        put_headers({"tagging": "a=b"})
