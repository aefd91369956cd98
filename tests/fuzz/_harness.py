"""What every harness shares: the contract check and the atheris entry point.

The contract: for any input a parser either returns or raises one of the project's S3
errors (``gateway.errors.S3Error``); every other exception is a crash. ``only_s3_errors``
lets S3 errors through and re-raises everything else, so atheris reports it with the
input that caused it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import suppress

import atheris

from gateway.errors import S3Error


def only_s3_errors() -> suppress:
    """Swallow the S3 errors a parser may legitimately raise; anything else propagates."""
    return suppress(S3Error)


def main(test_one_input: Callable[[bytes], None]) -> None:
    """Hand ``test_one_input`` to libFuzzer with this process's command line."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def parse_head(data: bytes) -> tuple[str, str, str, dict[str, str]]:
    """(method, raw path, raw query, headers) of a raw HTTP request head, leniently.

    The corpora hold request heads as clients put them on the wire, so that a seed is a
    real request and the fuzzer mutates real requests. Bytes are decoded latin-1 (one
    char per byte), as the HTTP layer does; header names are lower-cased and a repeated
    header is joined with ",", as the gateway hands them to authentication.
    """
    text = data.decode("latin-1")
    request_line, _, rest = text.partition("\r\n")
    method, _, target = request_line.partition(" ")
    target = target.rsplit(" HTTP/", 1)[0]
    raw_path, _, raw_query = target.partition("?")
    headers: dict[str, str] = {}
    for line in rest.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name, value = name.strip().lower(), value.strip()
        headers[name] = headers[name] + "," + value if name in headers else value
    return method, raw_path, raw_query, headers
