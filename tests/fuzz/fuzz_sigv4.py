"""Fuzz SigV4 authentication: the Authorization header and presigned query parsers.

Input: a raw HTTP request head (the corpus holds ones botocore signed). Contract:
``authenticate`` returns the one known access key or raises an S3 error. Round trip: a
request for a key and a header value taken from the input, signed by botocore (header
and presigned), is accepted.

    mkdir -p /tmp/fuzz-sigv4  # libFuzzer adds new inputs to the first corpus dir
    python -m tests.fuzz.fuzz_sigv4 -atheris_runs=1000000 /tmp/fuzz-sigv4 tests/fuzz/corpus/sigv4
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import atheris

from tests.fuzz import _clients as clients
from tests.fuzz._harness import main, only_s3_errors, parse_head

with atheris.instrument_imports():
    from gateway.auth import sigv4, verify  # noqa: F401 - instrumented for coverage


def test_one_input(data: bytes) -> None:
    method, raw_path, raw_query, headers = parse_head(data)
    with only_s3_errors():
        result = verify.authenticate(
            verify.SignedRequest(method, raw_path, raw_query, headers),
            clients.secret_for,
            clients.NOW,
        )
        assert result.access_key == clients.ACCESS_KEY, result
    if len(data) % 4 == 0:  # botocore's signing costs more than the check: 1 input in 4
        round_trip(data[:96].decode("utf-8", "replace"))


def round_trip(text: str) -> None:
    """botocore's signature over a key and x-amz-meta value made of ``text`` verifies."""
    key = text.replace("\x00", "") or "k"
    url = f"{clients.ENDPOINT}/fuzz-bucket/{quote(key.encode(), safe='/~')}"
    url += "?prefix=" + quote(key.encode(), safe="")
    meta = "".join(c for c in text if " " <= c <= "~")
    signed = clients.sigv4_headers("GET", url, {"x-amz-meta-fuzz": meta})
    _accepts(url, signed)
    _accepts(clients.sigv4_presigned("GET", url), {"Host": urlsplit(url).netloc})


def _accepts(url: str, headers: dict[str, str]) -> None:
    split = urlsplit(url)
    req = verify.SignedRequest(
        "GET", split.path, split.query, {k.lower(): v for k, v in headers.items()}
    )
    result = verify.authenticate(req, clients.secret_for, clients.NOW)
    assert result.access_key == clients.ACCESS_KEY, (url, headers)


if __name__ == "__main__":
    main(test_one_input)
