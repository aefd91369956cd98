"""Fuzz ``gateway.routing.resolve``: method, raw path, raw query and Host of a request head.

Input: a raw HTTP request head. Contract: ``resolve`` returns an Endpoint or raises an S3
error, for any input, path-style and with a virtual-host domain. Round trip: a key taken
from the input, percent-encoded into a path-style or virtual-host request, resolves back
to exactly that bucket and key.

    mkdir -p /tmp/fuzz-routing  # libFuzzer adds new inputs to the first corpus dir
    python -m tests.fuzz.fuzz_routing -atheris_runs=1000000 /tmp/fuzz-routing tests/fuzz/corpus/routing
"""

from __future__ import annotations

from urllib.parse import quote

import atheris

from tests.fuzz._harness import main, only_s3_errors, parse_head

with atheris.instrument_imports():
    from gateway import routing

DOMAIN = "s3.example.com"


def test_one_input(data: bytes) -> None:
    method, raw_path, raw_query, headers = parse_head(data)
    for domain in (None, DOMAIN):
        with only_s3_errors():
            endpoint = routing.resolve(method, raw_path, raw_query, headers.get("host"), domain)
            assert isinstance(endpoint.op, str) and endpoint.op, endpoint
            assert endpoint.key is None or endpoint.bucket is not None, endpoint
    round_trip(data[:128].decode("utf-8", "replace"))


def round_trip(key: str) -> None:
    if not key:
        return
    encoded = quote(key.encode("utf-8"), safe="/")
    for endpoint in (
        routing.resolve("GET", "/fuzz-bucket/" + encoded, ""),
        routing.resolve("GET", "/" + encoded, "", f"fuzz-bucket.{DOMAIN}:9000", DOMAIN),
    ):
        got = (endpoint.op, endpoint.bucket, endpoint.key)
        assert got == ("GetObject", "fuzz-bucket", key), (got, key)


if __name__ == "__main__":
    main(test_one_input)
