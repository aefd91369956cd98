"""Fuzz every XML request body: CompleteMultipartUpload, DeleteObjects (Delete) and
CreateBucketConfiguration (``gateway.wire`` parsers over ``gateway.wire.xml.parse``).

Input: an XML body, given to all three parsers. Contract: each returns or raises an S3
error (MalformedXML). Round trip: keys and ETags taken from the input, written into a
Delete and a CompleteMultipartUpload document (escaped as clients escape them), parse
back to exactly those keys and ETags.

    mkdir -p /tmp/fuzz-xml  # libFuzzer adds new inputs to the first corpus dir
    python -m tests.fuzz.fuzz_xml -atheris_runs=1000000 /tmp/fuzz-xml tests/fuzz/corpus/xml
"""

from __future__ import annotations

import re

import atheris
import xmltodict  # noqa: F401 - imported first so that only Cairn's own code is instrumented

from tests.fuzz._harness import main, only_s3_errors

with atheris.instrument_imports():
    from gateway.wire import bucket, multi_delete, multipart, xml

# Characters XML 1.0 cannot carry at all, even as references: no S3 client can send them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def test_one_input(data: bytes) -> None:
    with only_s3_errors():
        parts = multipart.parse_complete(data)
        assert parts and all(p.number >= 0 and isinstance(p.etag, str) for p in parts)
    with only_s3_errors():
        quiet, objects = multi_delete.parse_delete(data)
        assert objects and all(isinstance(key, str) for key, _ in objects)
    with only_s3_errors():
        region = bucket.location_constraint(data)
        assert region is None or isinstance(region, str)
    if len(data) % 4 == 0:  # three more parses: 1 input in 4
        round_trip(data[:200].decode("utf-8", "replace"))


def _escape(value: str) -> str:
    """As botocore writes XML text: escaped, and CR as a reference (or XML turns it to LF)."""
    return xml.text(value).replace("\r", "&#13;")


def round_trip(text: str) -> None:
    keys = [k for k in _NOT_XML.sub("", text).split("\n") if k] or ["k"]
    body = "<Delete><Quiet>true</Quiet>" + "".join(
        f"<Object><Key>{_escape(key)}</Key></Object>" for key in keys
    )
    quiet, objects = multi_delete.parse_delete((body + "</Delete>").encode())
    assert quiet and [key for key, _ in objects] == keys, (objects, keys)

    # Whitespace and quotes around an ETag are not part of it (the parser strips them).
    etags = [re.sub(r'[\s"]', "", key) or "e" for key in keys]
    body = '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{_escape(tag)}</ETag></Part>"
        for n, tag in enumerate(etags, 1)
    )
    parts = multipart.parse_complete((body + "</CompleteMultipartUpload>").encode())
    assert [(p.number, p.etag) for p in parts] == list(enumerate(etags, 1)), (parts, etags)


if __name__ == "__main__":
    main(test_one_input)
