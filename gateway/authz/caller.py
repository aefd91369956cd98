"""Who is asking: a user (through one of its keys) or nobody (an anonymous request)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.keyring import KeyRing

ALL_RIGHTS = frozenset({"read", "write", "owner"})
NO_RIGHTS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Caller:
    user_id: str | None  # the canonical user id; None: anonymous
    display_name: str | None
    access_key: str | None
    # What the key may do on a bucket by itself (a narrowed key holds rights on its
    # buckets only); an anonymous caller holds none and is served only through grants.
    rights: Callable[[str], frozenset[str]]
    email: str | None = None
    # Whether the key names this bucket itself (`cairn admin key create/allow --bucket B`):
    # then its rights there are the administrator's grant, whoever owns the bucket
    # (Garage's model); rights the key holds on every bucket ("*") only bound it.
    names: Callable[[str], bool] = lambda _bucket: False

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Caller(None, None, None, lambda _bucket: NO_RIGHTS)


def caller_of(keyring: KeyRing, access_key: str) -> Caller | None:
    """The caller behind a signed request's key; None for a key the ring no longer has."""
    ident = keyring.identity(access_key)
    if ident is None:
        return None
    named = ident.buckets
    return Caller(
        ident.user_id,
        ident.display_name,
        access_key,
        ident.rights,
        ident.email,
        lambda bucket: bucket in named,
    )
