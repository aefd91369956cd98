"""AWS Signature Version 4 maths: canonical request, string to sign, signing key, signature.

Request path step: authentication (first thing after routing the raw request). These are
pure functions with no parsing or policy: ``gateway.auth.verify`` decides what to feed
them and what a mismatch means, ``gateway.auth.chunked`` uses the chunk/trailer variants to
check aws-chunked bodies. Keeping the maths here lets tests pin it to AWS's published
vectors independently of header parsing.

S3 specifics that differ from other services: the canonical URI is the path as sent on
the wire (no normalisation, no second encoding), and the payload hash line may be one of
the literal STREAMING-*/UNSIGNED-PAYLOAD markers instead of a digest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import product
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
PAYLOAD_MARKERS = frozenset(
    {UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)
SIGNED_STREAMING_MODES = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER})
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"

# RFC 3986 unreserved characters: the only ones SigV4 leaves unencoded.
_UNRESERVED = "-_.~"


def uri_encode(value: str | bytes, *, keep_slash: bool = False) -> str:
    """AWS UriEncode: everything but A-Za-z0-9-_.~ (and '/' for paths) as %XX, upper hex."""
    return quote(value, safe=_UNRESERVED + ("/" if keep_slash else ""))


def canonical_uri_candidates(raw_path: str) -> list[str]:
    """Canonical URIs to try for a path as received, most likely first.

    S3 signs the path exactly as the client put it on the wire (botocore, the Go and Java
    SDKs all percent-encode once and sign that). Some clients send a character raw (say
    '(' or '!') but sign its encoded form, so the re-encoded path is a second candidate.
    Both name the same key, so accepting either grants nothing extra.
    """
    path = raw_path or "/"
    candidates = [path]
    reencoded = uri_encode(unquote_to_bytes(path), keep_slash=True)
    if reencoded != path:
        candidates.append(reencoded)
    return candidates


def query_pairs(raw_query: str, *, plus_as_space: bool = False) -> list[tuple[bytes, bytes]]:
    """Decode a raw query string into (name, value) byte pairs, keeping order and repeats."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if plus_as_space:
            name, value = name.replace("+", " "), value.replace("+", " ")
        pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def canonical_query(
    raw_query: str, *, exclude: Iterable[str] = (), plus_as_space: bool = False
) -> str:
    """CanonicalQueryString: decode what was sent, re-encode per AWS, sort by name then value.

    Decoding first makes '/' in a value verify whether the client sent it raw or as %2F.
    ``exclude`` drops parameters (X-Amz-Signature for presigned URLs).
    """
    drop = {name.encode() for name in exclude}
    encoded = sorted(
        (uri_encode(name), uri_encode(value))
        for name, value in query_pairs(raw_query, plus_as_space=plus_as_space)
        if name not in drop
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """CanonicalHeaders: 'name:trimmed value\\n' per signed header, in SignedHeaders order.

    Trimall: strip and collapse internal whitespace runs to one space. A signed header that
    is absent canonicalises to an empty value, so the signature simply does not match.
    """
    return "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)


def canonical_request(
    method: str,
    canonical_uri: str,
    canonical_query_string: str,
    canonical_headers_block: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    return "\n".join(
        (
            method.upper(),
            canonical_uri,
            canonical_query_string,
            canonical_headers_block,
            signed_headers,
            payload_hash,
        )
    )


def scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, credential_scope: str, canonical_request_text: str) -> str:
    digest = hashlib.sha256(wire_bytes(canonical_request_text)).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{credential_scope}\n{digest}"


@lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service, 'aws4_request'.

    Cached: a signing key is valid for one (secret, day, region, service), and every
    request of a client on that day derives the same one (four HMACs saved per request).
    """
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def signature(key: bytes, string_to_sign_text: str) -> str:
    return hmac.new(key, string_to_sign_text.encode("utf-8"), hashlib.sha256).hexdigest()


def chunk_string_to_sign(
    amz_date: str, credential_scope: str, previous_signature: str, chunk_sha256_hex: str
) -> str:
    """String to sign for one aws-chunked data chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""
    return (
        f"{ALGORITHM}-PAYLOAD\n{amz_date}\n{credential_scope}\n{previous_signature}\n"
        f"{EMPTY_SHA256}\n{chunk_sha256_hex}"
    )


def trailer_string_to_sign(
    amz_date: str, credential_scope: str, previous_signature: str, trailer_sha256_hex: str
) -> str:
    """String to sign for the trailer block (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)."""
    return (
        f"{ALGORITHM}-TRAILER\n{amz_date}\n{credential_scope}\n{previous_signature}\n"
        f"{trailer_sha256_hex}"
    )


def canonical_trailers(trailers: Iterable[tuple[str, str]]) -> bytes:
    """The bytes the trailer signature covers: 'name:value\\n' per trailer, as sent, in order."""
    return "".join(f"{name.lower()}:{value.strip()}\n" for name, value in trailers).encode()


def check_signature(
    key: bytes,
    provided: str,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    amz_date: str,
    credential_scope: str,
    payloads: Sequence[str],
    presigned: bool,
) -> tuple[str, str] | None:
    """Compare ``provided`` with the signature of every canonical form the client may have
    signed (see canonical_uri_candidates; '+' in a query may mean a space; presigned URLs
    may sign a payload header). None when one matches, constant-time each; otherwise the
    most likely (canonical request, string to sign), for the error document.
    """
    exclude = ("X-Amz-Signature",) if presigned else ()
    queries = [canonical_query(raw_query, exclude=exclude)]
    if "+" in raw_query:
        queries.append(canonical_query(raw_query, exclude=exclude, plus_as_space=True))
    header_block = canonical_headers(headers, signed_headers)
    first: tuple[str, str] | None = None
    for uri, query, payload in product(canonical_uri_candidates(raw_path), queries, payloads):
        creq = canonical_request(
            method, uri, query, header_block, ";".join(signed_headers), payload
        )
        sts = string_to_sign(amz_date, credential_scope, creq)
        if constant_time_equal(signature(key, sts), provided):
            return None
        first = first or (creq, sts)
    return first


@dataclass(frozen=True)
class ChunkSigning:
    """What a signed aws-chunked body needs to check its chain of chunk signatures.

    Built by verify.py once the request's (seed) signature is proven; the signing key is
    derived, never the secret itself, and stays out of repr so it cannot end up in logs.
    """

    signing_key: bytes = field(repr=False)
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous_signature: str, chunk_sha256_hex: str) -> str:
        sts = chunk_string_to_sign(self.amz_date, self.scope, previous_signature, chunk_sha256_hex)
        return signature(self.signing_key, sts)

    def trailer_signature(self, previous_signature: str, trailer_block: bytes) -> str:
        sts = trailer_string_to_sign(
            self.amz_date, self.scope, previous_signature, hashlib.sha256(trailer_block).hexdigest()
        )
        return signature(self.signing_key, sts)


def parse_amz_date(text: str) -> datetime | None:
    """An ISO 8601 basic timestamp (20130524T000000Z) as an aware UTC datetime, or None.

    Sliced by hand: strptime showed up in profiles of small requests, parsed per request."""
    t = text.strip()
    if len(t) != 16 or t[8] != "T" or t[15] != "Z" or not (t[:8] + t[9:15]).isdigit():
        return None
    try:
        return datetime(
            int(t[0:4]),
            int(t[4:6]),
            int(t[6:8]),
            int(t[9:11]),
            int(t[11:13]),
            int(t[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def wire_bytes(text: str) -> bytes:
    """The bytes a canonical request or string to sign stands for.

    The HTTP layer decodes header bytes as latin-1 (one char per byte), so encoding back
    with latin-1 gives exactly what the client sent and signed: botocore puts non-ASCII
    header values on the wire as UTF-8 and signs those same UTF-8 bytes. Text that cannot
    have come off the wire (chars above U+00FF, from direct callers) is taken as UTF-8.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def constant_time_equal(expected: str, provided: str) -> bool:
    """Signature comparison that leaks no timing; safe for any (even non-ASCII) input."""
    # compare_digest refuses non-ASCII str; as bytes it stays constant-time for all input.
    return hmac.compare_digest(expected.encode(), provided.encode("utf-8", "surrogatepass"))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()
