"""Who is asking: a user (through one of its keys) or nobody (an anonymous request)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Caller(None, None, None, lambda _bucket: NO_RIGHTS)


class _KeyRingLike:
    """What the authorization step asks of gateway.keyring.KeyRing (the identity branch's
    interface): identity(access key) -> Identity | None."""

    def identity(self, access_key: str) -> object | None: ...


def caller_of(keyring: object, access_key: str, bootstrap_user: str) -> Caller | None:
    """The caller behind a signed request's key; None for a key the ring no longer has.

    A key ring without users (before the identity work) knows only keys narrowed to
    buckets: such a key acts for the bootstrap user, with every right on its buckets."""
    identity = getattr(keyring, "identity", None)
    if identity is not None:
        ident = identity(access_key)
        if ident is None:
            return None
        return Caller(
            ident.user_id,
            ident.display_name,
            access_key,
            ident.rights,
            getattr(ident, "email", None),
        )
    allows = keyring.allows  # type: ignore[attr-defined]
    if not allows(access_key, None):
        return None
    return Caller(
        bootstrap_user,
        bootstrap_user,
        access_key,
        lambda bucket: ALL_RIGHTS if allows(access_key, bucket) else NO_RIGHTS,
    )
