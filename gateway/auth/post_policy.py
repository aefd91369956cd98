"""Who sent a browser upload (PostObject), and whether its form is what the policy allows.

A POST form authenticates in its fields rather than in headers: a base64 JSON policy
document, signed with SigV4 (``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``,
``x-amz-signature``: the hex HMAC-SHA256 of the base64 policy under the derived signing
key) or SigV2 (``AWSAccessKeyId``, ``signature``: base64 HMAC-SHA1 of the base64 policy).
A form without a policy is anonymous: whether anyone may write then is the authorization
step's decision, as for any unsigned request.

The policy has an ``expiration`` and ``conditions``: exact matches (``{"acl":
"private"}`` or ``["eq", "$acl", "private"]``), ``starts-with`` prefixes and a
``content-length-range`` for the file. Every field of the form must be named by a
condition, except the ones that carry the signature itself, ``file``, ``x-ignore-*`` and
the ``x-amz-checksum-*`` fields (they only narrow what is stored: the file must match
them). Field names and condition operators are case-insensitive; the document's own keys
are not (AWS refuses ``"EXPIRATION"``). The length range can only be checked while the
file streams: ``check_length`` / ``LengthLimit`` do that for the handler.

Errors are AWS's: AccessDenied "Invalid according to Policy: ..." for an expired policy
or a failed condition, InvalidPolicyDocument for a document that is not one, InvalidArgument
for a missing field, SignatureDoesNotMatch and InvalidAccessKeyId as for header auth.
Secrets only reach the HMAC helpers of sigv2/sigv4; nothing here logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.auth import sigv2, sigv4
from gateway.auth.verify import AuthResult
from gateway.errors import (
    AccessDenied,
    EntityTooLarge,
    EntityTooSmall,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidPolicyDocument,
    SignatureDoesNotMatch,
)
from gateway.wire.form import Form, read_fields

__all__ = [
    "Condition",
    "FormAuth",
    "PostPolicy",
    "PostUpload",
    "authenticate_form",
    "check_conditions",
    "check_length",
    "limit_length",
    "parse_policy",
    "read_upload",
]

_EXEMPT = frozenset({"policy", "file", "x-amz-signature", "signature", "awsaccesskeyid"})
_EXEMPT_PREFIXES = ("x-ignore-", "x-amz-checksum-")
_EXPIRATION = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z")


@dataclass(frozen=True)
class Condition:
    op: str  # "eq" or "starts-with"
    field: str  # the form field's lower-cased name, without "$"
    value: str
    text: str  # as the policy wrote it, for the error message


@dataclass(frozen=True)
class PostPolicy:
    expiration: datetime
    conditions: tuple[Condition, ...]
    length_range: tuple[int, int] | None


@dataclass(frozen=True)
class FormAuth:
    """The caller (None: an anonymous form) and the policy the upload must keep to."""

    auth: AuthResult | None
    policy: PostPolicy | None


# --- authentication ------------------------------------------------------------------


def authenticate_form(
    fields: Mapping[str, str],
    secret_for: Callable[[str], str | None],
) -> FormAuth:
    """Check the form's signature over its policy. ``fields`` are by lower-cased name.
    The policy's conditions are checked apart (``check_conditions``), once the key is
    known, since ``${filename}`` in it is the file part's name."""
    encoded = fields.get("policy")
    if encoded is None:
        for name in ("awsaccesskeyid", "signature", "x-amz-signature", "x-amz-credential"):
            if name in fields:
                raise _missing("policy")
        return FormAuth(None, None)
    if "x-amz-algorithm" in fields:
        auth = _v4(fields, encoded, secret_for)
    else:
        auth = _v2(fields, encoded, secret_for)
    return FormAuth(auth, parse_policy(encoded))


def _v4(
    fields: Mapping[str, str], encoded: str, secret_for: Callable[[str], str | None]
) -> AuthResult:
    if fields["x-amz-algorithm"] != sigv4.ALGORITHM:
        raise InvalidArgument(
            "Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm.",
            ArgumentName="x-amz-algorithm",
            ArgumentValue=fields["x-amz-algorithm"],
        )
    for name in ("x-amz-credential", "x-amz-signature", "x-amz-date"):
        if name not in fields:
            raise _missing(name)
    parts = fields["x-amz-credential"].split("/")
    amz_date = fields["x-amz-date"]
    if (
        len(parts) != 5
        or not parts[0]
        or not re.fullmatch(r"\d{8}", parts[1])
        or parts[3] != "s3"
        or parts[4] != "aws4_request"
    ):
        raise InvalidArgument(
            "Invalid credential: expecting <YOUR-AKID>/YYYYMMDD/REGION/s3/aws4_request.",
            ArgumentName="x-amz-credential",
            ArgumentValue=fields["x-amz-credential"],
        )
    if sigv4.parse_amz_date(amz_date) is None or amz_date[:8] != parts[1]:
        raise InvalidArgument(
            "x-amz-date must be an ISO8601 basic timestamp of the credential's date.",
            ArgumentName="x-amz-date",
            ArgumentValue=amz_date,
        )
    access_key, date, region, service = parts[:4]
    secret = _secret(access_key, secret_for)
    expected = sigv4.signature(sigv4.signing_key(secret, date, region, service), encoded)
    provided = fields["x-amz-signature"]
    if not sigv4.constant_time_equal(expected, provided.lower()):
        raise _mismatch(access_key, encoded, provided)
    return AuthResult(access_key, sigv4.UNSIGNED_PAYLOAD, None)


def _v2(
    fields: Mapping[str, str], encoded: str, secret_for: Callable[[str], str | None]
) -> AuthResult:
    if "awsaccesskeyid" not in fields:
        raise _missing("AWSAccessKeyId")
    if "signature" not in fields:
        raise _missing("Signature")
    access_key = fields["awsaccesskeyid"]
    secret = _secret(access_key, secret_for)
    provided = fields["signature"]
    if not sigv4.constant_time_equal(sigv2.signature(secret, encoded), provided):
        raise _mismatch(access_key, encoded, provided)
    return AuthResult(access_key, sigv4.UNSIGNED_PAYLOAD, None)


def _secret(access_key: str, secret_for: Callable[[str], str | None]) -> str:
    secret = secret_for(access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
    return secret


def _missing(name: str) -> InvalidArgument:
    return InvalidArgument(
        f"Bucket POST must contain a field named '{name}'.  If it is specified, please "
        "check the order of the fields.",
        ArgumentName=name,
        ArgumentValue="",
    )


def _mismatch(access_key: str, encoded: str, provided: str) -> SignatureDoesNotMatch:
    return SignatureDoesNotMatch(
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        AWSAccessKeyId=access_key,
        StringToSign=encoded,
        SignatureProvided=provided,
    )


# --- the policy document ---------------------------------------------------------------


def parse_policy(encoded: str) -> PostPolicy:
    """The base64 JSON policy, validated; InvalidPolicyDocument with AWS's reason if not."""
    try:
        raw = base64.b64decode("".join(encoded.split()), validate=True)
        document = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid("Policy missing expiration.")
    if "conditions" not in document:
        raise _invalid("Policy missing conditions.")
    expiration = _expiration(document["expiration"])
    conditions = document["conditions"]
    if not isinstance(conditions, list):
        raise _invalid("Invalid 'conditions' value: must be a List.")
    parsed: list[Condition] = []
    length_range: tuple[int, int] | None = None
    for item in conditions:
        if isinstance(item, list) and item and str(item[0]).lower() == "content-length-range":
            length_range = _length_range(item)
        else:
            parsed.append(_condition(item))
    return PostPolicy(expiration, tuple(parsed), length_range)


def _expiration(value: Any) -> datetime:
    m = _EXPIRATION.fullmatch(value) if isinstance(value, str) else None
    try:
        if m is None:
            raise ValueError(value)
        return datetime(*(int(g) for g in m.groups()[:6]), tzinfo=UTC)
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: '{value}'") from None


def _condition(item: Any) -> Condition:
    text = json.dumps(item)
    if isinstance(item, dict):
        if len(item) != 1:
            raise _invalid(
                "Invalid Simple-Condition: Simple-Conditions must have exactly one property "
                "specified."
            )
        ((name, value),) = item.items()
        if not isinstance(value, str):
            raise _invalid(f"Invalid Simple-Condition: value must be a string: {text}")
        return Condition("eq", name.lower(), value, text)
    if not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise _invalid(f"Invalid Condition: must be a List or an Object: {text}")
    op = item[0].lower()
    if op not in ("eq", "starts-with"):
        raise _invalid(f"Invalid Condition: unknown operation '{item[0]}': {text}")
    if len(item) != 3:
        raise _invalid(f"Invalid Condition: wrong number of arguments: {text}")
    _, name, value = item
    if not isinstance(name, str) or not name.startswith("$") or not isinstance(value, str):
        raise _invalid(f"Invalid Condition: expecting a form field and a string: {text}")
    return Condition(op, name[1:].lower(), value, text)


def _length_range(item: list[Any]) -> tuple[int, int]:
    text = json.dumps(item)
    if len(item) != 3:
        raise _invalid(f"Invalid content-length-range condition: {text}")
    bounds = [_non_negative(v) for v in item[1:]]
    if bounds[0] is None or bounds[1] is None or bounds[0] > bounds[1]:
        raise _invalid(f"Invalid content-length-range condition: {text}")
    return bounds[0], bounds[1]


def _non_negative(value: Any) -> int | None:
    """An integer bound (as a number or a string of digits, as AWS takes it); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _invalid(reason: str) -> InvalidPolicyDocument:
    return InvalidPolicyDocument(f"Invalid Policy: {reason}")


# --- the checks --------------------------------------------------------------------------


def check_conditions(
    policy: PostPolicy, fields: Mapping[str, str], bucket: str, now: datetime | None = None
) -> None:
    """The form against the policy: not expired, every condition met, every field named.
    ``fields`` are by lower-cased name, with ``key`` as it will be stored (``${filename}``
    replaced); ``bucket`` is the bucket the form was posted to, whatever its fields say."""
    if (now or datetime.now(UTC)) > policy.expiration:
        raise AccessDenied("Invalid according to Policy: Policy expired.")
    for cond in policy.conditions:
        actual = bucket if cond.field == "bucket" else fields.get(cond.field, "")
        if not _meets(cond, actual):
            raise AccessDenied(f"Invalid according to Policy: Policy Condition failed: {cond.text}")
    named = {cond.field for cond in policy.conditions}
    for name in fields:
        if name in named or name in _EXEMPT or name.startswith(_EXEMPT_PREFIXES):
            continue
        raise AccessDenied(f"Invalid according to Policy: Extra input fields: {name}")


def _meets(cond: Condition, actual: str) -> bool:
    if cond.op == "eq":
        return actual == cond.value
    if cond.field == "content-type":  # each type of a comma-separated list must match
        return all(part.strip().startswith(cond.value) for part in actual.split(","))
    return actual.startswith(cond.value)


def check_length(length_range: tuple[int, int] | None, size: int) -> None:
    """The file's size against content-length-range: EntityTooSmall / EntityTooLarge."""
    if length_range is None:
        return
    low, high = length_range
    if size < low:
        raise EntityTooSmall(
            "Your proposed upload is smaller than the minimum allowed size",
            ProposedSize=str(size),
            MinSizeAllowed=str(low),
        )
    if size > high:
        raise EntityTooLarge(
            "Your proposed upload exceeds the maximum allowed size",
            ProposedSize=str(size),
            MaxSizeAllowed=str(high),
        )


async def limit_length(
    pieces: AsyncIterable[bytes | memoryview], length_range: tuple[int, int] | None
) -> AsyncIterator[bytes | memoryview]:
    """The file's pieces, refused (EntityTooLarge) as soon as they pass the range's top and
    (EntityTooSmall) at the end if short of its bottom: before anything is committed."""
    size = 0
    high = length_range[1] if length_range is not None else None
    async for piece in pieces:
        size += len(piece)
        if high is not None and size > high:
            check_length(length_range, size)
        yield piece
    check_length(length_range, size)


# --- the upload as the gateway holds it between authentication and the handler ----------


@dataclass(frozen=True)
class PostUpload:
    """A form read up to its file: who sent it, the key it writes, what it may store."""

    form: Form
    fields: dict[str, str]  # by lower-cased name; "key" as stored (${filename} replaced)
    key: str
    auth: AuthResult | None  # None: no policy, an anonymous upload
    length_range: tuple[int, int] | None


async def read_upload(
    stream: AsyncIterator[bytes],
    content_type: str,
    bucket: str,
    secret_for: Callable[[str], str | None],
    refresh_for: Callable[..., Awaitable[bool]],
) -> PostUpload:
    """Read a POST form's fields (the file stays unread), authenticate it and check it
    against its policy. An unknown key may have just been created, a known one just
    rotated: the key ring looks again once (``refresh_for(key, known_too=...)``, as for
    header auth) before the form is refused."""
    form = await read_fields(stream, content_type)
    fields = form.values()
    try:
        checked = authenticate_form(fields, secret_for)
    except (InvalidAccessKeyId, SignatureDoesNotMatch) as exc:
        # A form signed with a key's new secret may reach us before the next refresh.
        known_too = isinstance(exc, SignatureDoesNotMatch)
        if not await refresh_for(exc.extra.get("AWSAccessKeyId", ""), known_too=known_too):
            raise
        checked = authenticate_form(fields, secret_for)
    if "key" not in fields:
        raise _missing("key")
    key = fields["key"].replace("${filename}", form.file_header.filename or "")
    if not key:
        raise InvalidArgument(
            "User key must have a length greater than 0.", ArgumentName="key", ArgumentValue=""
        )
    fields["key"] = key
    if checked.policy is not None:
        check_conditions(checked.policy, fields, bucket)
    length_range = checked.policy.length_range if checked.policy is not None else None
    return PostUpload(form, fields, key, checked.auth, length_range)
