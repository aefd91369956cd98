"""Bucket policies as the authorization step uses them: parsed once per policy text.

The engine is gateway.authz.policy (parse_policy, evaluate, is_public); a policy is parsed
when it is stored (PutBucketPolicy validates it) and again, once, by each gateway process
that decides on it, kept here by its text so a request pays only the evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.authz import policy as engine

_parsed: dict[tuple[str, str], Any] = {}
_MAX_CACHED = 1024


def parse(text: str, bucket: str, user_exists: Callable[[str], bool]) -> Any:
    """Validate a policy being stored (MalformedPolicy with AWS's messages)."""
    return engine.parse_policy(text, bucket, user_exists)


def parsed(text: str, bucket: str) -> Any:
    """A stored (so valid) policy, parsed once per process."""
    hit = _parsed.get((bucket, text))
    if hit is None:
        if len(_parsed) >= _MAX_CACHED:
            _parsed.clear()
        hit = engine.parse_policy(text, bucket, lambda _id: True)
        _parsed[(bucket, text)] = hit
    return hit


def evaluate(
    text: str,
    bucket: str,
    action: str,
    resource: str,
    user_id: str | None,
    display_name: str | None,
    context: Mapping[str, Sequence[str]],
) -> str | None:
    """ "Allow", "Deny" or None (no statement applies)."""
    req = engine.PolicyRequest(action, resource, user_id, display_name, context)
    return engine.evaluate(parsed(text, bucket), req)


def is_public_parsed(parsed_policy: Any) -> bool:
    return bool(engine.is_public(parsed_policy))


def is_public(text: str | None, bucket: str) -> bool:
    return text is not None and engine.is_public(parsed(text, bucket))
