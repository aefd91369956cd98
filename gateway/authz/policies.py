"""Bucket policies as the authorization step uses them: parsed once per policy text.

The engine is gateway.authz.policy (parse_policy, evaluate, is_public); a policy is parsed
when it is stored (PutBucketPolicy validates it) and again, once, by each gateway process
that decides on it, kept here by its text so a request pays only the evaluation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.authz import policy as engine

_parsed: dict[tuple[str, str], Any] = {}
_denies: dict[tuple[str, str], Any] = {}
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
            _denies.clear()
        hit = engine.parse_policy(text, bucket, lambda _id: True)
        _parsed[(bucket, text)] = hit
    return hit


def _deny_statements(text: str, bucket: str) -> Any:
    """The policy with its Deny statements only: all that can change the bucket owner's
    answer, so the owner's requests (the common case) skip the Allows."""
    hit = _denies.get((bucket, text))
    if hit is None:
        full = parsed(text, bucket)
        deny = tuple(s for s in full.statements if s.effect == "Deny")
        hit = _denies[(bucket, text)] = dataclasses.replace(full, statements=deny)
    return hit


def evaluate(
    text: str,
    bucket: str,
    action: str,
    resource: str,
    user_id: str | None,
    display_name: str | None,
    context: Mapping[str, Sequence[str]],
    *,
    denies_only: bool = False,
) -> str | None:
    """ "Allow", "Deny" or None (no statement applies); ``denies_only``: "Deny" or None."""
    req = engine.PolicyRequest(action, resource, user_id, display_name, context)
    policy = _deny_statements(text, bucket) if denies_only else parsed(text, bucket)
    return engine.evaluate(policy, req)


def is_public_parsed(parsed_policy: Any) -> bool:
    return bool(engine.is_public(parsed_policy))


def is_public(text: str | None, bucket: str) -> bool:
    return text is not None and engine.is_public(parsed(text, bucket))
