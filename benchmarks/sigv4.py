"""Minimal AWS SigV4 header signing for the load generator.

The load generator shares two cores with the server, so signing must cost a few microseconds:
payloads are sent as UNSIGNED-PAYLOAD (no body hashing), the signing key is derived once per
UTC day and the x-amz-date string once per second. Only what S3 path-style requests need.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
SIGNED_HEADERS = "host;x-amz-content-sha256;x-amz-date"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """The derived key for one day (the spec's HMAC chain)."""
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def canonical_query(query: dict[str, str] | None) -> str:
    """Sorted, RFC 3986-encoded query string; used both for signing and on the wire."""
    if not query:
        return ""
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )


class Signer:
    """Signs requests for one access key / region; caches the day key and timestamp."""

    def __init__(self, access_key: str, secret_key: str, region: str = "us-east-1") -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self._day = ""
        self._key = b""
        self._second = -1
        self._amz_date = ""

    def _now(self) -> tuple[str, str]:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            day = self._amz_date[:8]
            if day != self._day:
                self._day = day
                self._key = signing_key(self.secret_key, day, self.region)
        return self._amz_date, self._day

    def sign(self, method: str, path: str, query: str, host: str) -> dict[str, str]:
        """Headers to add: x-amz-date, x-amz-content-sha256, Authorization.

        `path` must already be URI-encoded (S3 does not double-encode) and `query` canonical.
        """
        amz_date, day = self._now()
        canonical = (
            f"{method}\n{path}\n{query}\nhost:{host}\nx-amz-content-sha256:{UNSIGNED}\n"
            f"x-amz-date:{amz_date}\n\n{SIGNED_HEADERS}\n{UNSIGNED}"
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "x-amz-date": amz_date,
            "x-amz-content-sha256": UNSIGNED,
            "Authorization": (
                f"{ALGORITHM} Credential={self.access_key}/{scope}, "
                f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
            ),
        }
