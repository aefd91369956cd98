"""Bucket policies: parse and validate the JSON once, then evaluate requests cheaply.

A pure module (standard library and gateway.errors only). ``parse_policy`` turns the JSON
text of PutBucketPolicy into a ``Policy`` whose patterns are compiled once, or raises
``MalformedPolicy`` with AWS's message; ``evaluate`` answers "Allow", "Deny" or None for
one request (an applicable Deny wins; None: no statement applies); ``is_public`` is S3's
"public policy" test (GetBucketPolicyStatus, BlockPublicPolicy, RestrictPublicBuckets).

Why not a library: policyuniverse (last release 2023), parliament and py-iam-expand lint or
expand IAM policies; none evaluates a request against a policy, and none knows S3's bucket
policy rules (resources in this bucket, principals that must exist). The grammar is small.

Semantics follow the IAM policy reference (docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_elements_*.html and reference_policies_elements_condition_operators.html):
- ``*`` matches any run of characters (``/`` included) and ``?`` exactly one; nothing else
  is special. Actions match case-insensitively, resources and StringLike case-sensitively.
- Condition key names are case-insensitive (values are not); tag keys after
  ``s3:ExistingObjectTag/`` and ``s3:RequestObjectTag/`` keep their case.
- A key absent from the request fails a positive operator and passes a negated one
  (StringNotEquals, NotIpAddress, ArnNotLike, ...); ``...IfExists`` passes on absence;
  ``ForAllValues:`` passes on absence, ``ForAnyValue:`` fails.
- Policy variables (``${aws:username}``, ``${aws:userid}``, any context key, ``${*}``,
  ``${?}``, ``${$}``) are replaced in Resource and in String/Arn condition values when the
  Version is 2012-10-17; an element whose variable has no value does not match.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from gateway.errors import MalformedPolicy, PolicyTooLarge

Effect = Literal["Allow", "Deny"]

MAX_POLICY_BYTES = 20 * 1024
VERSIONS = ("2012-10-17", "2008-10-17")
ARN_PREFIX = "arn:aws:s3:::"

# --- AWS's messages (MalformedPolicy), as S3 sends them -----------------------------------
ERR_FIRST_BYTE = "Policies must be valid JSON and the first byte must be '{'"
ERR_JSON = "This policy contains invalid Json"
ERR_VERSION = "The policy must contain a valid version string"
ERR_NO_STATEMENT = "Missing required field Statement"
ERR_EMPTY_STATEMENT = "Could not parse the policy: Statement is empty!"
ERR_ACTION = "Policy has invalid action"
ERR_RESOURCE = "Policy has invalid resource"
ERR_PRINCIPAL = "Invalid principal in policy"
ERR_RESOURCE_MISMATCH = "Action does not apply to any resource(s) in statement"
ERR_CONDITION_KEY = "Policy has an invalid condition key"
ERR_CONDITION_IP = "Invalid IP address in Conditions"
ERR_DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."

# --- S3 actions: which resource each one names (for "Action does not apply ...") ----------
OBJECT_ACTIONS = frozenset(
    "s3:" + name
    for name in [
        "AbortMultipartUpload",
        "BypassGovernanceRetention",
        "DeleteObject",
        "DeleteObjectTagging",
        "DeleteObjectVersion",
        "DeleteObjectVersionTagging",
        "GetObject",
        "GetObjectAcl",
        "GetObjectAttributes",
        "GetObjectLegalHold",
        "GetObjectRetention",
        "GetObjectTagging",
        "GetObjectTorrent",
        "GetObjectVersion",
        "GetObjectVersionAcl",
        "GetObjectVersionAttributes",
        "GetObjectVersionForReplication",
        "GetObjectVersionTagging",
        "GetObjectVersionTorrent",
        "InitiateReplication",
        "ListMultipartUploadParts",
        "ObjectOwnerOverrideToBucketOwner",
        "PutObject",
        "PutObjectAcl",
        "PutObjectLegalHold",
        "PutObjectRetention",
        "PutObjectTagging",
        "PutObjectVersionAcl",
        "PutObjectVersionTagging",
        "ReplicateDelete",
        "ReplicateObject",
        "ReplicateTags",
        "RestoreObject",
    ]
)
BUCKET_ACTIONS = frozenset(
    "s3:" + name
    for name in [
        "DeleteBucket",
        "DeleteBucketOwnershipControls",
        "DeleteBucketPolicy",
        "DeleteBucketWebsite",
        "GetAccelerateConfiguration",
        "GetAnalyticsConfiguration",
        "GetBucketAcl",
        "GetBucketCORS",
        "GetBucketLocation",
        "GetBucketLogging",
        "GetBucketNotification",
        "GetBucketObjectLockConfiguration",
        "GetBucketOwnershipControls",
        "GetBucketPolicy",
        "GetBucketPolicyStatus",
        "GetBucketPublicAccessBlock",
        "GetBucketRequestPayment",
        "GetBucketTagging",
        "GetBucketVersioning",
        "GetBucketWebsite",
        "GetEncryptionConfiguration",
        "GetIntelligentTieringConfiguration",
        "GetInventoryConfiguration",
        "GetLifecycleConfiguration",
        "GetMetricsConfiguration",
        "GetReplicationConfiguration",
        "ListBucket",
        "ListBucketMultipartUploads",
        "ListBucketVersions",
        "PutAccelerateConfiguration",
        "PutAnalyticsConfiguration",
        "PutBucketAcl",
        "PutBucketCORS",
        "PutBucketLogging",
        "PutBucketNotification",
        "PutBucketObjectLockConfiguration",
        "PutBucketOwnershipControls",
        "PutBucketPolicy",
        "PutBucketPublicAccessBlock",
        "PutBucketRequestPayment",
        "PutBucketTagging",
        "PutBucketVersioning",
        "PutBucketWebsite",
        "PutEncryptionConfiguration",
        "PutIntelligentTieringConfiguration",
        "PutInventoryConfiguration",
        "PutLifecycleConfiguration",
        "PutMetricsConfiguration",
        "PutReplicationConfiguration",
    ]
)
# Actions on no bucket resource at all: valid names, but no bucket policy resource fits them.
ACCOUNT_ACTIONS = frozenset(
    "s3:" + name
    for name in [
        "CreateBucket",
        "ListAllMyBuckets",
        "GetAccountPublicAccessBlock",
        "PutAccountPublicAccessBlock",
        "CreateJob",
        "DescribeJob",
        "ListJobs",
        "UpdateJobPriority",
        "UpdateJobStatus",
        "ListAccessPoints",
    ]
)
KNOWN_ACTIONS = OBJECT_ACTIONS | BUCKET_ACTIONS | ACCOUNT_ACTIONS
_KNOWN_LOWER = {a.lower(): a for a in KNOWN_ACTIONS}

# --- condition keys S3 accepts in a bucket policy (besides every aws: global key) --------
S3_CONDITION_KEYS = frozenset(
    "s3:" + name.lower()
    for name in [
        "authType",
        "delimiter",
        "max-keys",
        "prefix",
        "VersionId",
        "versionid",
        "locationconstraint",
        "signatureAge",
        "signatureversion",
        "TlsVersion",
        "ResourceAccount",
        "AccessPointNetworkOrigin",
        "DataAccessPointAccount",
        "DataAccessPointArn",
        "RequestObjectTagKeys",
        "ObjectCreationOperation",
        "object-lock-legal-hold",
        "object-lock-mode",
        "object-lock-remaining-retention-days",
        "object-lock-retain-until-date",
        "x-amz-acl",
        "x-amz-content-sha256",
        "x-amz-copy-source",
        "x-amz-grant-full-control",
        "x-amz-grant-read",
        "x-amz-grant-read-acp",
        "x-amz-grant-write",
        "x-amz-grant-write-acp",
        "x-amz-metadata-directive",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-storage-class",
        "x-amz-website-redirect-location",
        "x-amz-object-ownership",
        "if-match",
        "if-none-match",
        "x-amz-checksum-algorithm",
    ]
)
# Keys with a free-form suffix; the suffix (a tag key) keeps its case.
EXISTING_TAG_PREFIX = "s3:existingobjecttag/"
S3_CONDITION_KEY_PREFIXES = (EXISTING_TAG_PREFIX, "s3:requestobjecttag/", "s3:buckettag/")


@lru_cache(maxsize=4096)
def normalize_key(key: str) -> str:
    """A condition key as compared: the name lower-cased, a tag key after '/' kept as is.
    (Cached: every request's context repeats the same few names.)"""
    head, slash, tail = key.partition("/")
    return head.lower() + slash + tail


# --- wildcard patterns ------------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERAL_VARIABLES = frozenset("*?$")


def wildcard_regex(pattern: str) -> str:
    """The regex source for an AWS wildcard pattern: '*' any run, '?' one character."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return "".join(out)


def compile_wildcards(patterns: Iterable[str], ignore_case: bool = False) -> re.Pattern[str]:
    """One anchored regex matching any of the patterns (an alternation is one C-level scan)."""
    source = "|".join(f"(?:{wildcard_regex(p)})" for p in patterns) or "(?!)"
    return re.compile(source, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@lru_cache(maxsize=4096)
def _compiled_one(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return compile_wildcards((pattern,), ignore_case)


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Does value match the AWS wildcard pattern? (cached compile: for dynamic patterns)."""
    return _compiled_one(pattern, ignore_case).fullmatch(value) is not None


def has_variables(text: str) -> bool:
    return "${" in text


Variables = Callable[[str], "str | None"]


@lru_cache(maxsize=4096)
def _pieces(template: str) -> tuple[tuple[int, str], ...]:
    """A template split once into pieces: (_TEXT, pattern text), (_VAR, name), (_CHAR, c).

    ${*}, ${?} and ${$} become _CHAR pieces: the character itself, never a wildcard.
    """
    out, last = [], 0
    for match in _VARIABLE.finditer(template):
        out.append((_TEXT, template[last : match.start()]))
        name = match.group(1)
        out.append((_CHAR, name) if name in _LITERAL_VARIABLES else (_VAR, name))
        last = match.end()
    out.append((_TEXT, template[last:]))
    return tuple(out)


_TEXT, _VAR, _CHAR = 0, 1, 2


@lru_cache(maxsize=4096)
def _regex_pieces(template: str) -> tuple[tuple[int, str], ...]:
    """The pieces as regex source: text as wildcards, ${*}-style characters escaped."""
    return tuple(
        (
            kind,
            wildcard_regex(text) if kind == _TEXT else re.escape(text) if kind == _CHAR else text,
        )
        for kind, text in _pieces(template)
    )


def _expand(
    pieces: tuple[tuple[int, str], ...], variables: Variables, value: Callable[[str], str]
) -> str | None:
    """Join the pieces, each variable replaced by ``value(its value)``; None if one has none.

    A variable with no value makes the whole element fail to match, as in IAM.
    """
    out = []
    for kind, text in pieces:
        if kind != _VAR:
            out.append(text)
            continue
        got = variables(text)
        if got is None:
            return None
        out.append(value(got))
    return "".join(out)


def _same(text: str) -> str:
    return text


@lru_cache(maxsize=4096)
def _regex(source: str) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL)


def _dynamic_match(template: str, value: str, variables: Variables) -> bool:
    """Match a wildcard pattern holding policy variables; substituted values are literal."""
    source = _expand(_regex_pieces(template), variables, re.escape)
    return source is not None and _regex(source).fullmatch(value) is not None


def _dynamic_text(template: str, variables: Variables) -> str | None:
    """A string with its policy variables replaced (for the Equals operators)."""
    return _expand(_pieces(template), variables, _same)


# --- the request ------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyRequest:
    """What a policy is asked about. ``context`` keys are condition keys, any case."""

    action: str  # "s3:GetObject"
    resource: str  # "arn:aws:s3:::bucket" or "arn:aws:s3:::bucket/key"
    user_id: str | None  # the caller's canonical id (= account id); None: anonymous
    display_name: str | None  # the caller's user name (aws:username)
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


# A request context may carry ``keys_normalized = True``: its keys are already as
# ``normalize_key`` makes them, so the engine looks keys up in it without copying it.
KEYS_NORMALIZED = "keys_normalized"


def _principal_keys(req: PolicyRequest) -> dict[str, Sequence[str]]:
    """The keys the caller defines, unless the request's context gives them itself."""
    if req.user_id is None:
        return {"aws:principaltype": ("Anonymous",)}
    keys: dict[str, Sequence[str]] = {
        "aws:userid": (req.user_id,),
        "aws:principalaccount": (req.user_id,),
        "aws:principaltype": ("Account",),
    }
    if req.display_name is not None:
        keys["aws:username"] = (req.display_name,)
    return keys


class _Context:
    """The request's condition keys, normalized once per evaluation and only when needed."""

    __slots__ = ("_req", "_keys", "_direct")

    def __init__(self, req: PolicyRequest) -> None:
        self._req = req
        self._keys: dict[str, Sequence[str]] | None = None
        # A context whose keys are already normalized is read key by key, as conditions
        # ask: nothing is copied per evaluation (the gateway's context is one of these).
        context = req.context
        self._direct = context if getattr(context, KEYS_NORMALIZED, False) else None

    def _build(self) -> dict[str, Sequence[str]]:
        keys = _principal_keys(self._req)
        for key, values in self._req.context.items():
            keys[normalize_key(key)] = (values,) if isinstance(values, str) else values
        self._keys = keys
        return keys

    def _lookup(self, key: str) -> Sequence[str] | None:
        direct = self._direct
        if direct is None:
            keys = self._keys if self._keys is not None else self._build()
            return keys.get(key)
        values = direct.get(key)
        if values is None:
            return _principal_keys(self._req).get(key)  # the context's own win (as above)
        return (values,) if isinstance(values, str) else values

    def get(self, key: str) -> Sequence[str] | None:
        """Values of a normalized key; aws:CurrentTime/aws:EpochTime default to now."""
        values = self._lookup(key)
        if values is None and key in ("aws:currenttime", "aws:epochtime"):
            now = time.time()
            if key == "aws:epochtime":
                return (str(int(now)),)
            return (datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),)
        return values

    def variable(self, name: str) -> str | None:
        """A policy variable's value: the key's single value, or None (element won't match)."""
        values = self.get(normalize_key(name))
        if not values:
            return None
        return values[0]


# --- conditions ---------------------------------------------------------------------------
# Matcher: (compiled policy values, one request value, context) -> bool
Matcher = Callable[[Any, str, _Context], bool]


def _string_values(values: list[str], variables: bool, ignore_case: bool) -> Any:
    if variables and any(has_variables(v) for v in values):
        return ("dynamic", values, ignore_case)
    if ignore_case:
        return frozenset(v.casefold() for v in values)
    return frozenset(values)


def _exact_values(values: list[str], variables: bool) -> Any:
    return _string_values(values, variables, ignore_case=False)


def _caseless_values(values: list[str], variables: bool) -> Any:
    return _string_values(values, variables, ignore_case=True)


def _string_equals(compiled: Any, value: str, ctx: _Context) -> bool:
    if isinstance(compiled, frozenset):
        return value in compiled
    _, templates, ignore_case = compiled
    for template in templates:
        concrete = _dynamic_text(template, ctx.variable)
        if concrete is None:
            continue
        if (concrete.casefold() == value.casefold()) if ignore_case else concrete == value:
            return True
    return False


def _string_equals_ignore_case(compiled: Any, value: str, ctx: _Context) -> bool:
    if isinstance(compiled, frozenset):
        return value.casefold() in compiled
    return _string_equals(compiled, value, ctx)


def _like_values(values: list[str], variables: bool) -> Any:
    dynamic = [v for v in values if variables and has_variables(v)]
    static = [v for v in values if v not in dynamic]
    return (compile_wildcards(static) if static else None, dynamic)


def _string_like(compiled: Any, value: str, ctx: _Context) -> bool:
    regex, dynamic = compiled
    if regex is not None and regex.fullmatch(value):
        return True
    return any(_dynamic_match(t, value, ctx.variable) for t in dynamic)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number(text: str) -> float | None:
    """A decimal number as written in JSON (not Python's 'nan', 'inf' or '1_000')."""
    text = text.strip()
    return float(text) if _NUMBER.fullmatch(text) else None


def _date(text: str) -> float | None:
    """An ISO 8601 date/time or epoch seconds, as epoch seconds."""
    number = _number(text)
    if number is not None:
        return number
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _compare(parse: Callable[[str], float | None], test: Callable[[float, float], bool]) -> tuple:
    def compile_(values: list[str], variables: bool) -> Any:
        return [n for n in (parse(v) for v in values) if n is not None]

    def match(compiled: Any, value: str, ctx: _Context) -> bool:
        number = parse(value)
        return number is not None and any(test(number, p) for p in compiled)

    return compile_, match


def _bool_values(values: list[str], variables: bool) -> Any:
    return frozenset(v.lower() for v in values)


def _bool_match(compiled: Any, value: str, ctx: _Context) -> bool:
    return value.lower() in compiled


def _ip_values(values: list[str], variables: bool = False) -> Any:
    networks = []
    for v in values:
        try:
            networks.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise MalformedPolicy(ERR_CONDITION_IP) from None
    return tuple(networks)


@lru_cache(maxsize=4096)
def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A request's source address, parsed once per distinct value (clients repeat)."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _ip_match(compiled: Any, value: str, ctx: _Context) -> bool:
    address = _address(value)
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in compiled)


def _arn_values(values: list[str], variables: bool) -> Any:
    return [(v.split(":", 5), variables) for v in values]


def _arn_match(compiled: Any, value: str, ctx: _Context) -> bool:
    """Each of an ARN's six colon-separated parts is matched on its own, wildcards allowed."""
    parts = value.split(":", 5)
    if len(parts) != 6:
        return False
    for pattern, variables in compiled:
        if len(pattern) == 6 and all(
            _part_match(p, v, ctx, variables) for p, v in zip(pattern, parts, strict=True)
        ):
            return True
    return False


def _part_match(pattern: str, value: str, ctx: _Context, variables: bool) -> bool:
    if variables and has_variables(pattern):
        return _dynamic_match(pattern, value, ctx.variable)
    return wildcard_match(pattern, value)


def _binary_values(values: list[str], variables: bool) -> Any:
    return frozenset(values)


def _binary_match(compiled: Any, value: str, ctx: _Context) -> bool:
    return value in compiled


@dataclass(frozen=True)
class _Operator:
    compile: Callable[[list[str], bool], Any]
    match: Matcher
    negated: bool = False


def _operators() -> dict[str, _Operator]:
    ops: dict[str, _Operator] = {
        "StringEquals": _Operator(_exact_values, _string_equals),
        "StringNotEquals": _Operator(_exact_values, _string_equals, True),
        "StringEqualsIgnoreCase": _Operator(_caseless_values, _string_equals_ignore_case),
        "StringNotEqualsIgnoreCase": _Operator(_caseless_values, _string_equals_ignore_case, True),
        "StringLike": _Operator(_like_values, _string_like),
        "StringNotLike": _Operator(_like_values, _string_like, True),
        "Bool": _Operator(_bool_values, _bool_match),
        "BinaryEquals": _Operator(_binary_values, _binary_match),
        "IpAddress": _Operator(_ip_values, _ip_match),
        "NotIpAddress": _Operator(_ip_values, _ip_match, True),
        "ArnEquals": _Operator(_arn_values, _arn_match),
        "ArnLike": _Operator(_arn_values, _arn_match),
        "ArnNotEquals": _Operator(_arn_values, _arn_match, True),
        "ArnNotLike": _Operator(_arn_values, _arn_match, True),
    }
    tests: dict[str, tuple[Callable[[float, float], bool], bool]] = {
        "Equals": (lambda a, b: a == b, False),
        "NotEquals": (lambda a, b: a == b, True),
        "LessThan": (lambda a, b: a < b, False),
        "LessThanEquals": (lambda a, b: a <= b, False),
        "GreaterThan": (lambda a, b: a > b, False),
        "GreaterThanEquals": (lambda a, b: a >= b, False),
    }
    for kind, parse in (("Numeric", _number), ("Date", _date)):
        for suffix, (test, negated) in tests.items():
            compile_, match = _compare(parse, test)
            ops[kind + suffix] = _Operator(compile_, match, negated)
    return ops


OPERATORS = _operators()


@dataclass(frozen=True)
class _Condition:
    """One (operator, key) pair of a Condition block, compiled."""

    key: str  # normalized
    op: _Operator
    values: Any
    qualifier: str  # "", "ForAnyValue", "ForAllValues"
    if_exists: bool
    null_check: bool | None = None  # for Null: True means "key must be absent"

    def holds(self, ctx: _Context) -> bool:
        present = ctx.get(self.key)
        if self.null_check is not None:
            return (not present) == self.null_check
        if not present:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return self.op.negated
        match, values, negated = self.op.match, self.values, self.op.negated
        if self.qualifier == "ForAllValues":
            return all(match(values, v, ctx) != negated for v in present)
        if self.qualifier == "ForAnyValue":
            return any(match(values, v, ctx) != negated for v in present)
        hit = any(match(values, v, ctx) for v in present)
        # A negated operator holds when no request value matches any policy value.
        return hit != negated


def _parse_operator(name: str) -> tuple[str, str, bool]:
    """Split 'ForAnyValue:StringLikeIfExists' into (qualifier, base, if_exists)."""
    qualifier, sep, base = name.partition(":")
    if not sep:
        qualifier, base = "", name
    elif qualifier not in ("ForAnyValue", "ForAllValues"):
        raise MalformedPolicy(f"Invalid Condition type : {name}")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in OPERATORS and base != "Null":
        raise MalformedPolicy(f"Invalid Condition type : {name}")
    if base == "Null" and (if_exists or qualifier):
        raise MalformedPolicy(f"Invalid Condition type : {name}")
    return qualifier, base, if_exists


def _check_condition_key(key: str) -> str:
    normalized = normalize_key(key)
    if normalized.startswith("aws:") and len(normalized) > 4:
        return normalized
    if normalized in S3_CONDITION_KEYS:
        return normalized
    if any(
        normalized.startswith(p) and len(normalized) > len(p) for p in S3_CONDITION_KEY_PREFIXES
    ):
        return normalized
    raise MalformedPolicy(ERR_CONDITION_KEY)


def _condition_values(raw: Any) -> list[str]:
    """Condition values: a string, number or boolean, or a list of them (AWS stringifies)."""
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise MalformedPolicy(ERR_JSON)
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            out.append(str(item))
        else:
            raise MalformedPolicy(ERR_JSON)
    return out


def _parse_conditions(raw: Any, variables: bool) -> tuple[_Condition, ...]:
    if not isinstance(raw, dict):
        raise MalformedPolicy(ERR_JSON)
    out = []
    for name, block in raw.items():
        qualifier, base, if_exists = _parse_operator(name)
        if not isinstance(block, dict) or not block:
            raise MalformedPolicy(ERR_JSON)
        for key, raw_values in block.items():
            normalized = _check_condition_key(key)
            values = _condition_values(raw_values)
            if normalized == "aws:sourceip" and base != "Null":
                _ip_values(values)  # AWS rejects a bad address whatever the operator
            if base == "Null":
                flags = {v.lower() for v in values}
                if not flags <= {"true", "false"} or len(flags) != 1:
                    raise MalformedPolicy(ERR_JSON)
                out.append(
                    _Condition(normalized, OPERATORS["Bool"], None, "", False, "true" in flags)
                )
                continue
            op = OPERATORS[base]
            compiled = op.compile(values, variables)  # 2008-10-17: "${" is plain text
            out.append(_Condition(normalized, op, compiled, qualifier, if_exists))
    return tuple(out)


# --- principals ---------------------------------------------------------------------------
_IAM_ARN = re.compile(r"arn:aws:iam::([^:/]+):(root|user/(.+))")


@dataclass(frozen=True)
class _Principals:
    """Who a Principal/NotPrincipal names: everyone, account ids, or (account, user) pairs."""

    everyone: bool = False
    ids: frozenset[str] = frozenset()
    users: frozenset[tuple[str, str]] = frozenset()

    def matches(self, user_id: str | None, name: str | None) -> bool:
        if self.everyone:
            return True
        if user_id is None:
            return False
        return user_id in self.ids or (user_id, name or "") in self.users


def _as_list(raw: Any, error: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, str) and i for i in items):
        raise MalformedPolicy(error)
    return items


def _parse_principals(raw: Any, user_exists: Callable[[str], bool]) -> _Principals:
    if raw == "*":
        return _Principals(everyone=True)
    if not isinstance(raw, dict) or not raw:
        raise MalformedPolicy(ERR_PRINCIPAL)
    everyone, ids, users = False, set(), set()
    for kind, value in raw.items():
        entries = _as_list(value, ERR_PRINCIPAL)
        if kind == "AWS":
            for entry in entries:
                if entry == "*":
                    everyone = True
                    continue
                account, user = _aws_principal(entry)
                if not user_exists(account):
                    raise MalformedPolicy(ERR_PRINCIPAL)
                if user is None:
                    ids.add(account)
                else:
                    users.add((account, user))
        elif kind == "CanonicalUser":
            for entry in entries:
                if entry == "*":
                    everyone = True
                elif not user_exists(entry):
                    raise MalformedPolicy(ERR_PRINCIPAL)
                else:
                    ids.add(entry)
        elif kind in ("Service", "Federated"):
            continue  # valid, but no caller of this store is a service or federated principal
        else:
            raise MalformedPolicy(ERR_PRINCIPAL)
    return _Principals(everyone, frozenset(ids), frozenset(users))


def _aws_principal(entry: str) -> tuple[str, str | None]:
    """An AWS principal: a bare account id, 'arn:aws:iam::ID:root' or '...:user/NAME'."""
    if "*" in entry or "?" in entry:
        raise MalformedPolicy(ERR_PRINCIPAL)
    if not entry.startswith("arn:"):
        return entry, None
    match = _IAM_ARN.fullmatch(entry)
    if match is None:
        raise MalformedPolicy(ERR_PRINCIPAL)
    return match.group(1), match.group(3)


# --- actions and resources ------------------------------------------------------------------
def _parse_actions(raw: Any) -> tuple[frozenset[str], re.Pattern[str] | None, set[str]]:
    """Exact actions (lower-cased), one regex for the wildcard ones, and the exact actions'
    canonical names (AWS checks those, not wildcards, against resources and conditions)."""
    exact, wild, named = set(), [], set()
    for entry in _as_list(raw, ERR_ACTION):
        if entry == "*" or ("*" in entry or "?" in entry):
            if entry != "*" and not entry.lower().startswith("s3:"):
                raise MalformedPolicy(ERR_ACTION)
            regex = compile_wildcards([entry], ignore_case=True)
            hits = {a for a in KNOWN_ACTIONS if regex.fullmatch(a)}
            if not hits:
                raise MalformedPolicy(ERR_ACTION)
            wild.append(entry)
        else:
            canonical = _KNOWN_LOWER.get(entry.lower())
            if canonical is None:
                raise MalformedPolicy(ERR_ACTION)
            exact.add(entry.lower())
            named.add(canonical)
    return frozenset(exact), compile_wildcards(wild, ignore_case=True) if wild else None, named


@dataclass(frozen=True)
class _Resources:
    static: re.Pattern[str] | None
    dynamic: tuple[str, ...]  # patterns holding policy variables

    def matches(self, resource: str, ctx: _Context) -> bool:
        if self.static is not None and self.static.fullmatch(resource):
            return True
        return any(_dynamic_match(t, resource, ctx.variable) for t in self.dynamic)


def _parse_resources(raw: Any, bucket: str, variables: bool) -> tuple[_Resources, bool, bool]:
    """The compiled resources, and whether they can name the bucket and its objects."""
    static, dynamic = [], []
    names_bucket = names_objects = False
    for entry in _as_list(raw, ERR_RESOURCE):
        if entry == "*":
            static.append(entry)
            names_bucket = names_objects = True
            continue
        if not entry.startswith(ARN_PREFIX):
            raise MalformedPolicy(ERR_RESOURCE)
        path = entry[len(ARN_PREFIX) :]
        bucket_part, slash, _ = path.partition("/")
        concrete_bucket = _VARIABLE.sub("*", bucket_part) if variables else bucket_part
        if not path or not wildcard_match(concrete_bucket, bucket):
            raise MalformedPolicy(ERR_RESOURCE)
        names_objects |= bool(slash) or "*" in bucket_part
        names_bucket |= not slash
        (dynamic if variables and has_variables(entry) else static).append(entry)
    resources = _Resources(compile_wildcards(static) if static else None, tuple(dynamic))
    return resources, names_bucket, names_objects


def _check_actions_fit(named: set[str], names_bucket: bool, names_objects: bool) -> None:
    """AWS refuses a statement with an (exact) action that none of its resources can name."""
    for action in named:
        if action in ACCOUNT_ACTIONS:
            raise MalformedPolicy(ERR_RESOURCE_MISMATCH)
        if action in OBJECT_ACTIONS and not names_objects:
            raise MalformedPolicy(ERR_RESOURCE_MISMATCH)
        if action in BUCKET_ACTIONS and not names_bucket:
            raise MalformedPolicy(ERR_RESOURCE_MISMATCH)


# S3 condition keys that only some actions carry (S3's "Actions, resources, and condition
# keys" table); a statement naming one with an exact action that lacks it is refused.
_LIST_ACTIONS = frozenset(["s3:ListBucket", "s3:ListBucketVersions"])
KEY_ACTIONS: dict[str, frozenset[str]] = {
    "s3:prefix": _LIST_ACTIONS,
    "s3:delimiter": _LIST_ACTIONS,
    "s3:max-keys": _LIST_ACTIONS,
    "s3:x-amz-acl": frozenset(["s3:PutObject", "s3:PutObjectAcl", "s3:PutBucketAcl"]),
}
ERR_CONDITION_MISMATCH = (
    "Conditions do not apply to combination of actions and resources in statement"
)


def _check_conditions_fit(conditions: tuple[_Condition, ...], named: set[str]) -> None:
    for condition in conditions:
        allowed = KEY_ACTIONS.get(condition.key)
        if allowed is not None and not named <= allowed:
            raise MalformedPolicy(ERR_CONDITION_MISMATCH)


# --- statements and the policy --------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One compiled statement; ``applies`` is the hot path."""

    sid: str | None
    effect: Effect
    principals: _Principals
    not_principal: bool
    exact_actions: frozenset[str]
    wild_actions: re.Pattern[str] | None
    not_action: bool
    resources: _Resources
    not_resource: bool
    conditions: tuple[_Condition, ...]
    raw: Mapping[str, Any]
    # Whether the statement names s3:ExistingObjectTag/<key> anywhere (a condition key or a
    # ${...} variable): only such a statement needs the object read before the decision.
    reads_tags: bool = False

    def admits_action(self, action: str) -> bool:
        """Does the Action/NotAction part let this (lower-cased) action through?"""
        hit = action in self.exact_actions or (
            self.wild_actions is not None and self.wild_actions.fullmatch(action) is not None
        )
        return hit != self.not_action

    def may_name(self, user_id: str | None, name: str | None) -> bool:
        """Could the Principal part apply to this caller? (NotPrincipal: decided later.)"""
        p = self.principals
        if self.not_principal or p.everyone:
            return True
        return user_id is not None and (user_id in p.ids or (user_id, name) in p.users)

    def applies(self, req: PolicyRequest, ctx: _Context) -> bool:
        """The rest of the test, for a statement already chosen by action and caller."""
        if self.principals.matches(req.user_id, req.display_name) == self.not_principal:
            return False
        if self.resources.matches(req.resource, ctx) == self.not_resource:
            return False
        return all(c.holds(ctx) for c in self.conditions)


@dataclass(frozen=True)
class Policy:
    """A parsed, validated bucket policy. ``text`` is the JSON as the client sent it.

    Parse once and keep it (e.g. per bucket, keyed by the stored text): parsing compiles
    every pattern, while ``evaluate`` is meant for every request.
    """

    text: str
    version: str
    id: str | None
    statements: tuple[Statement, ...]
    public: bool = False  # S3's "public policy" (is_public), decided once at parse time
    reads_tags: bool = False  # some statement names s3:ExistingObjectTag/<key>
    # action -> (statements for callers named nowhere, {user id: its statements}); built
    # per action on first use, so a request only looks at statements that can apply.
    _by_action: dict[str, _ActionIndex] = field(default_factory=dict, compare=False, repr=False)

    def candidates(
        self, action: str, user_id: str | None, name: str | None
    ) -> tuple[Statement, ...]:
        index = self._by_action.get(action)
        if index is None:
            index = _index_action(self.statements, action)
            if len(self._by_action) < 1024:  # actions come from the routing table: few
                self._by_action[action] = index
        anyone, by_user, by_user_name = index
        if user_id is None:
            return anyone
        found = by_user_name.get((user_id, name)) if by_user_name else None
        return found if found is not None else by_user.get(user_id, anyone)


_Statements = tuple[Statement, ...]
# (for callers named nowhere, per account id, per (account id, user name))
_ActionIndex = tuple[_Statements, dict[str, _Statements], dict[tuple[str, str], _Statements]]


def _index_action(statements: tuple[Statement, ...], action: str) -> _ActionIndex:
    """The statements an action can hit, in order: for anyone, per id, per (id, user name)."""
    admitted = [s for s in statements if s.admits_action(action)]
    ids = {uid for s in admitted for uid in s.principals.ids}
    pairs = {pair for s in admitted for pair in s.principals.users}
    anyone = tuple(s for s in admitted if s.may_name(None, None))
    by_user = {uid: tuple(s for s in admitted if s.may_name(uid, None)) for uid in ids}
    by_pair = {pair: tuple(s for s in admitted if s.may_name(*pair)) for pair in pairs}
    return anyone, by_user, by_pair


_STATEMENT_FIELDS = frozenset(
    [
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    ]
)


def _one_of(stmt: Mapping[str, Any], name: str, required: bool = True) -> tuple[Any, bool]:
    """The element or its Not- form (exactly one); returns (value, negated)."""
    plain, negated = stmt.get(name), stmt.get("Not" + name)
    if plain is not None and negated is not None:
        raise MalformedPolicy(f"Statement cannot have both {name} and Not{name}")
    if plain is None and negated is None:
        if required:
            raise MalformedPolicy(f"Missing required field {name}")
        return None, False
    return (plain, False) if plain is not None else (negated, True)


def _parse_statement(
    raw: Any, bucket: str, user_exists: Callable[[str], bool], variables: bool
) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicy(ERR_JSON)
    for name in raw:
        if name not in _STATEMENT_FIELDS:
            raise MalformedPolicy(f"Unknown field {name}")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicy(ERR_JSON)
    effect = raw.get("Effect")
    if effect is None:
        raise MalformedPolicy("Missing required field Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicy(f"Invalid effect: {effect}")
    principal_raw, not_principal = _one_of(raw, "Principal")
    if not_principal and effect == "Allow":
        raise MalformedPolicy(ERR_PRINCIPAL)  # NotPrincipal works only with Deny (IAM reference)
    principals = _parse_principals(principal_raw, user_exists)
    action_raw, not_action = _one_of(raw, "Action")
    exact, wild, named = _parse_actions(action_raw)
    resource_raw, not_resource = _one_of(raw, "Resource")
    resources, names_bucket, names_objects = _parse_resources(resource_raw, bucket, variables)
    if not not_action and not not_resource:
        _check_actions_fit(named, names_bucket, names_objects)
    conditions = _parse_conditions(raw["Condition"], variables) if "Condition" in raw else ()
    if conditions and not not_action:
        _check_conditions_fit(conditions, named)
    reads_tags = EXISTING_TAG_PREFIX in json.dumps(raw).lower()
    return Statement(
        sid, effect, principals, not_principal, exact, wild, not_action, resources, not_resource,
        conditions, raw, reads_tags,
    )  # fmt: skip


def _load_json(text: str) -> dict[str, Any]:
    if not text or text[0] != "{":
        raise MalformedPolicy(ERR_FIRST_BYTE)
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError:
        raise MalformedPolicy(ERR_JSON) from None
    compact = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    if len(compact) > MAX_POLICY_BYTES:
        raise PolicyTooLarge()
    return doc


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key}")
        out[key] = value
    return out


def parse_policy(text: str, bucket: str, user_exists: Callable[[str], bool]) -> Policy:
    """Validate a PutBucketPolicy body for ``bucket``; raise MalformedPolicy as S3 does.

    ``user_exists(account_id)`` says whether a principal names a known user: S3 refuses a
    policy naming a principal that does not exist ("Invalid principal in policy").
    Whitespace does not count towards the 20 KiB limit, as in S3.
    """
    if len(text) > 16 * MAX_POLICY_BYTES:
        raise PolicyTooLarge()  # do not even parse absurd documents
    doc = _load_json(text)
    for name in doc:
        if name not in ("Version", "Id", "Statement"):
            raise MalformedPolicy(f"Unknown field {name}")
    version = doc.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise MalformedPolicy(ERR_VERSION)
    policy_id = doc.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicy(ERR_JSON)
    if "Statement" not in doc:
        raise MalformedPolicy(ERR_NO_STATEMENT)
    raw_statements = doc["Statement"]
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise MalformedPolicy(ERR_JSON)
    if not raw_statements:
        raise MalformedPolicy(ERR_EMPTY_STATEMENT)
    variables = version == "2012-10-17"
    statements = tuple(_parse_statement(s, bucket, user_exists, variables) for s in raw_statements)
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise MalformedPolicy(ERR_DUPLICATE_SID)
    public = any(_statement_is_public(s) for s in statements)
    reads_tags = any(s.reads_tags for s in statements)
    return Policy(text, version, policy_id, statements, public, reads_tags)


def evaluate(policy: Policy, req: PolicyRequest) -> Effect | None:
    """ "Deny" if an applicable statement denies, else "Allow" if one allows, else None."""
    ctx = _Context(req)
    allowed = False
    for statement in policy.candidates(req.action.lower(), req.user_id, req.display_name):
        if allowed and statement.effect == "Allow":
            continue  # an Allow is already known: only a Deny can change the answer
        if statement.applies(req, ctx):
            if statement.effect == "Deny":
                return "Deny"
            allowed = True
    return "Allow" if allowed else None


# --- "public" (S3 user guide, Blocking public access, "The meaning of 'public'") -----------
# Keys whose fixed (wildcard-free, positive) value makes a wildcard-principal grant non-public.
FIXING_KEYS = frozenset(
    [
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceowner",
        "aws:sourceaccount",
        "aws:principalorgid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:sourceorgid",
        "aws:userid",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "s3:dataaccesspointarn",
        "s3:dataaccesspointaccount",
    ]
)
_FIXING_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike")


def is_public(policy: Policy) -> bool:
    """True if some Allow statement grants to everyone without a condition that pins callers."""
    return policy.public


def _statement_is_public(statement: Statement) -> bool:
    if statement.effect != "Allow":
        return False
    if not statement.principals.everyone:
        return False
    raw_conditions = statement.raw.get("Condition") or {}
    return not any(
        _is_fixing(operator, key, value)
        for operator, block in raw_conditions.items()
        for key, value in block.items()
    )


def _is_fixing(operator: str, key: str, raw_values: Any) -> bool:
    """Does this condition limit callers to a fixed set (S3's non-public conditions)?"""
    if operator.startswith("For") or operator.endswith("IfExists"):
        return False  # absent keys or sets pass these: they pin nothing
    values = _condition_values(raw_values)
    key = normalize_key(key)
    if key == "aws:sourceip":
        return operator == "IpAddress" and all(_narrow_network(v) for v in values)
    if key not in FIXING_KEYS or operator not in _FIXING_OPERATORS:
        return False
    if key == "aws:userid":
        return all("*" not in v and "?" not in v and not v.endswith(":") for v in values)
    return all("*" not in v and "?" not in v for v in values)


def _narrow_network(value: str) -> bool:
    """A CIDR narrow enough to count as "a set of CIDRs": /8 or longer (IPv4), /32 (IPv6).

    S3 says a policy limited with aws:SourceIp to "a set of CIDRs" is not public, but does
    not say how wide a range may be; this cut-off is our choice (0.0.0.0/0 must be public).
    """
    network = ipaddress.ip_network(value.strip(), strict=False)
    return network.prefixlen >= (8 if network.version == 4 else 32)
