"""Bucket policies as the authorization step uses them: parsed once per policy text.

The engine is gateway.authz.policy (parse_policy, evaluate, is_public); a policy is parsed
when it is stored (PutBucketPolicy validates it) and again, once, by each gateway process
that decides on it, kept here by its text so a request pays only the evaluation.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gateway.authz import policy as engine

_parsed: dict[tuple[str, str], Any] = {}
_narrowed: dict[tuple[str, str, str, bool], Any] = {}
_readers: dict[tuple[str, str, str, str | None, str | None], re.Pattern[str] | bool | None] = {}
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
            _narrowed.clear()
            _readers.clear()
        hit = engine.parse_policy(text, bucket, lambda _id: True)
        _parsed[(bucket, text)] = hit
    return hit


def _statements_for(text: str, bucket: str, action: str, denies_only: bool) -> Any:
    """The policy with only the statements that name ``action`` (and only its Denies for
    the bucket owner, whose answer an Allow cannot change): most requests then evaluate
    a statement or two, or none, which skips building the condition context at all."""
    key = (bucket, text, action, denies_only)
    hit = _narrowed.get(key)
    if hit is None:
        full = parsed(text, bucket)
        wanted = action.lower()
        kept = tuple(
            s
            for s in full.statements
            if (s.effect == "Deny" or not denies_only) and _names(s, wanted)
        )
        if len(_narrowed) >= _MAX_CACHED:
            _narrowed.clear()
        # A fresh per-action index: the narrowed policy must not share (and fill) the full
        # one's, or the statements one variant kept would answer for the other.
        hit = _narrowed[key] = dataclasses.replace(full, statements=kept, _by_action={})
    return hit


def _names(statement: Any, action: str) -> bool:
    hit = action in statement.exact_actions or (
        statement.wild_actions is not None and statement.wild_actions.fullmatch(action) is not None
    )
    return bool(hit != statement.not_action)


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
    policy = _statements_for(text, bucket, action, denies_only)
    if not policy.statements:
        return None
    req = engine.PolicyRequest(action, resource, user_id, display_name, context)
    return engine.evaluate(policy, req)


def reads_existing_tags(
    text: str | None,
    bucket: str,
    asks: Iterable[tuple[str, str]],
    user_id: str | None,
    display_name: str | None,
) -> bool:
    """Whether deciding these (action, resource ARN) pairs for this caller may test
    s3:ExistingObjectTag: some statement that names the tag key can apply to one of them
    (its action, its principal, its resource). Only then is the object read for its tags
    before the decision, so a policy with tag conditions on other prefixes or actions
    costs requests elsewhere no metadata read."""
    if text is None:
        return False
    for action, resource in asks:
        cover = _tag_cover(text, bucket, action, user_id, display_name)
        if cover is True or (cover is not None and cover.fullmatch(resource) is not None):
            return True
    return False


def _tag_cover(
    text: str, bucket: str, action: str, user_id: str | None, display_name: str | None
) -> re.Pattern[str] | bool | None:
    """Which resources of this action and caller a statement naming s3:ExistingObjectTag
    can cover, kept per (policy, action, caller): None for none (the usual answer, one
    lookup per request), True when it depends on the request (policy variables,
    NotResource), else one regex of all their Resource patterns (one match per request)."""
    key = (bucket, text, action, user_id, display_name)
    if key in _readers:
        return _readers[key]
    policy = parsed(text, bucket)
    readers = ()
    if policy.reads_tags:
        candidates = policy.candidates(action.lower(), user_id, display_name)
        readers = tuple(s for s in candidates if s.reads_tags)
    cover: re.Pattern[str] | bool | None = None
    if any(s.not_resource or s.resources.dynamic for s in readers):
        cover = True
    elif readers:
        patterns = [s.resources.static.pattern for s in readers if s.resources.static]
        cover = re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)", re.DOTALL)
    if len(_readers) >= _MAX_CACHED:
        _readers.clear()
    _readers[key] = cover
    return cover


_WRITES = ("s3:putobject", "s3:completemultipartupload", "s3:uploadpart")


def may_allow_writes(text: str, bucket: str, owner_id: str) -> bool:
    """Whether some Allow statement could let someone but the owner write objects
    (s3:PutObject): only then can an object in the bucket have an owner other than the
    bucket's (and the owner's reads must look at the object's owner first)."""
    statements = parsed(text, bucket).statements
    return any(
        s.effect == "Allow" and _names_others(s, owner_id) and _names(s, a)
        for s in statements
        for a in _WRITES
    )


def _names_others(statement: Any, owner_id: str) -> bool:
    p = statement.principals
    if statement.not_principal or p.everyone:
        return True
    return bool(p.ids - {owner_id}) or any(uid != owner_id for uid, _ in p.users)


def is_public_parsed(parsed_policy: Any) -> bool:
    return bool(engine.is_public(parsed_policy))


def is_public(text: str | None, bucket: str) -> bool:
    return text is not None and engine.is_public(parsed(text, bucket))
