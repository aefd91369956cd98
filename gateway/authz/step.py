"""The authorization step: between authentication and the handler, for every operation.

``authorize_request`` names the caller, reads the bucket's access configuration (one
metadata read, which also warms the record a PUT's commit compares), and decides the
operation's action on its bucket or object and, for CopyObject and UploadPartCopy, a read
of the copy source. It hands the handler an ``Access``: who the caller is and the bucket's
configuration, from which writes derive the new object's owner and ACL. No handler
decides access itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from gateway.authz import conditions, decide, policies
from gateway.authz.acl import Resolver
from gateway.authz.actions import (
    BYPASS_GOVERNANCE,
    BYPASS_HEADER,
    BYPASS_OPERATIONS,
    COPY_OPERATIONS,
    DELETE_OBJECT,
    LOCK_HEADER_NEEDS,
    LOCK_SHOWN_OPERATIONS,
    LOCK_WRITE_OPERATIONS,
    PER_KEY_OPERATION,
    SERVICE_OPERATIONS,
    SOURCE_ACTION,
    SOURCE_VERSION_ACTION,
    VERSION_NEEDS,
    Need,
    also_needs,
    need,
)
from gateway.authz.caller import ANONYMOUS, Caller, caller_of
from gateway.authz.decide import BucketView
from gateway.errors import AccessDenied, InvalidAccessKeyId
from gateway.keyring import KeyRing
from gateway.objects.service import ObjectService
from gateway.objects.types import BucketConfig, Bypass, ObjectAccess
from gateway.routing import Endpoint


async def _nobody(_key: str, _version: str | None = None) -> bool:
    return False


async def _never(_need: Need) -> bool:
    return False


async def _learn_nothing(_user_ids: set[str]) -> None:
    return None


@dataclass
class Access:
    """What the authorization step learnt, for the handler."""

    caller: Caller
    bucket: BucketView | None  # None: no bucket, or one that does not exist
    display_name: Callable[[str], str]  # a user id's display name (owners in listings)
    source_owner: str | None = None  # the copy source bucket's owner, when there is one
    resolve_id: Resolver = field(default=lambda _id: None)  # a user id -> (id, name)
    resolve_email: Resolver = field(default=lambda _email: None)  # an email -> (id, name)
    # DeleteObjects: may the caller delete this key (this version of it, when named)?
    # (the one decision, asked per key)
    may_delete: Callable[[str, str | None], Awaitable[bool]] = field(default=_nobody)
    bootstrap_user: str = ""  # owner of what was stored before owners existed ("")
    # Look up users this process does not know yet (created moments ago elsewhere).
    learn_users: Callable[[set[str]], Awaitable[None]] = field(default=_learn_nothing)
    # Set when the request sent x-amz-bypass-governance-retention: true: may the caller
    # bypass a version's GOVERNANCE retention (s3:BypassGovernanceRetention)? None: the
    # request did not ask, and a GOVERNANCE retention holds.
    bypass_governance: Bypass | None = None
    # The object (or version) the decision read, if it read one: GET and HEAD serve it.
    object_seen: Callable[[], ObjectAccess | None] = field(default=lambda: None)
    # GET and HEAD: may the caller also do this (show the lock headers only to a caller
    # that may read the retention or the legal hold, as AWS does)? Decided here, on demand.
    may: Callable[[Need], Awaitable[bool]] = field(default=_never)

    def owner_of(self, user_id: str) -> tuple[str, str]:
        return user_id, self.display_name(user_id)

    async def owners(self, stored: Iterable[str]) -> Callable[[str], tuple[str, str]]:
        """Listings' owners: a stored owner id ("" before owners existed) -> (ID,
        DisplayName). Users this process has not seen yet (made a moment ago, or known so
        far only to another worker) are looked up first, so their display names show."""
        await self.learn_users({s or self.bootstrap_user for s in stored})
        return lambda s: self.owner_of(s or self.bootstrap_user)


class Authorizer:
    """Built once per gateway process: the key ring, the object service, the bootstrap
    user (owner of buckets and objects from before owners existed)."""

    def __init__(self, keyring: KeyRing, objects: ObjectService, bootstrap_user: str) -> None:
        self.keyring = keyring
        self.objects = objects
        self.bootstrap_user = bootstrap_user
        self._views: dict[str, tuple[BucketConfig, BucketView]] = {}

    async def _view(self, name: str) -> BucketView | None:
        """The bucket's configuration as decisions read it, read afresh; built again only
        when the record changed (the service hands out the same config object until then)."""
        cfg = await self.objects.buckets.config(name)
        if cfg is None:
            return None
        hit = self._views.get(name)
        if hit is not None and hit[0] is cfg:
            return hit[1]
        view = decide.view(cfg, self.bootstrap_user, self.display_name)
        if len(self._views) > 10_000:
            self._views.clear()
        self._views[name] = (cfg, view)
        return view

    def display_name(self, user_id: str) -> str:
        found = self.keyring.user(user_id)
        return found[1] if found else user_id

    def user(self, user_id: str) -> tuple[str, str] | None:
        """A known user (ACL grantees, policy principals)."""
        return self.keyring.user(user_id)

    def user_by_email(self, email: str) -> tuple[str, str] | None:
        return self.keyring.user_by_email(email)

    def caller(self, access_key: str | None) -> Caller:
        if access_key is None:
            return ANONYMOUS
        found = caller_of(self.keyring, access_key)
        if found is None:  # deleted since the signature was checked
            raise InvalidAccessKeyId()
        return found

    async def authorize(
        self,
        endpoint: Endpoint,
        headers: Mapping[str, str],
        access_key: str | None,
        client_ip: str | None,
        secure: bool,
    ) -> Access:
        caller = self.caller(access_key)
        access = Access(
            caller,
            None,
            self.display_name,
            resolve_id=self.user,
            resolve_email=self.user_by_email,
            bootstrap_user=self.bootstrap_user,
            learn_users=self.keyring.learn_users,
        )
        if endpoint.op in SERVICE_OPERATIONS or endpoint.bucket is None:
            if caller.anonymous:
                raise AccessDenied()
            if endpoint.op == "CreateBucket" and "owner" not in caller.rights(endpoint.bucket):
                raise AccessDenied()  # a key narrowed to other buckets makes none of its own
            return access
        bucket = await self._view(endpoint.bucket)
        if bucket is None:
            return access  # the handler answers NoSuchBucket
        access.bucket = bucket

        free = conditions.free_keys(client_ip, secure) if bucket.policy is not None else None

        def context_of(existing_tags: Mapping[str, str]) -> conditions.Lazy:
            """The request's condition context, with one object's tags."""
            return conditions.Lazy(
                lambda: conditions.build(
                    endpoint, headers, caller, client_ip, secure, existing_tags
                ),
                free,
            )

        if endpoint.op in BYPASS_OPERATIONS and headers.get(BYPASS_HEADER, "").lower() == "true":
            access.bypass_governance = self._bypasser(caller, bucket, context_of)
        if endpoint.op == PER_KEY_OPERATION:
            # Each key is a DeleteObject of its own, decided when the body names it
            # (S3 reports a refused key in the result, not as the request's failure).
            if not caller.anonymous and need(endpoint.op).right not in caller.rights(bucket.name):
                raise AccessDenied()
            access.may_delete = self._deleter(caller, bucket, context_of)
            return access
        load = _ObjectRead(
            self.objects, endpoint.bucket, endpoint.key, endpoint.query.get("versionId")
        )
        op_need = need(endpoint.op, endpoint.query)
        also = also_needs(endpoint.op, endpoint.query)
        if endpoint.op in LOCK_WRITE_OPERATIONS:
            also += _lock_needs(headers)  # a write that sets object lock through headers
        asks = [op_need, *also]  # every decision this context serves
        context = context_of(await _existing_tags(caller, bucket, endpoint.key, asks, load))
        await decide.authorize(
            caller,
            op_need,
            bucket,
            endpoint.key,
            context,
            load,
            self.bootstrap_user,
            self._initiator(endpoint),
        )
        for extra in also:
            await decide.authorize(
                caller, extra, bucket, endpoint.key, context, load, self.bootstrap_user
            )
        access.object_seen = load.seen
        if endpoint.op in LOCK_SHOWN_OPERATIONS:
            access.may = _asker(caller, bucket, endpoint.key, context_of, load, self.bootstrap_user)
        if endpoint.op in COPY_OPERATIONS and "x-amz-copy-source" in headers:
            access.source_owner = await self._source(caller, headers, context_of)
        return access

    def _deleter(
        self, caller: Caller, bucket: BucketView, context_of: ContextOf
    ) -> Callable[[str, str | None], Awaitable[bool]]:
        plain = context_of({})  # built once for every key without tags

        async def may_delete(key: str, version: str | None = None) -> bool:
            """A key named with a VersionId is a DeleteObject of that version: it needs
            s3:DeleteObjectVersion, decided on that version's owner and ACL."""
            action = DELETE_OBJECT if version is None else VERSION_NEEDS["DeleteObject"]
            load = _ObjectRead(self.objects, bucket.name, key, version)
            return await _allowed(
                caller, action, bucket, key, context_of, load, self.bootstrap_user, plain
            )

        return may_delete

    def _bypasser(self, caller: Caller, bucket: BucketView, context_of: ContextOf) -> Bypass:
        async def may_bypass(key: str, version: str | None) -> bool:
            """s3:BypassGovernanceRetention on this version, decided like any action."""
            load = _ObjectRead(self.objects, bucket.name, key, version)
            return await _allowed(
                caller, BYPASS_GOVERNANCE, bucket, key, context_of, load, self.bootstrap_user
            )

        return may_bypass

    def _initiator(self, endpoint: Endpoint) -> decide.InitiatorLoader | None:
        """Who started the upload a ListParts or AbortMultipartUpload names (its owner)."""
        upload_id = endpoint.query.get("uploadId")
        if upload_id is None or endpoint.bucket is None or endpoint.key is None:
            return None
        bucket, key = endpoint.bucket, endpoint.key

        async def initiator() -> str | None:
            try:
                info = await self.objects.multipart.upload(bucket, key, upload_id)
            except Exception:  # noqa: BLE001 - no such upload: nobody started it
                return None
            return info.owner or self.bootstrap_user

        return initiator

    async def _source(
        self, caller: Caller, headers: Mapping[str, str], context_of: ContextOf
    ) -> str | None:
        """A copy reads its source: the caller must be allowed a GetObject of it (of that
        version, s3:GetObjectVersion, when the source names one)."""
        from gateway.handlers.copy import parse_copy_source_version  # the one parser

        src_bucket, src_key, src_version = parse_copy_source_version(headers["x-amz-copy-source"])
        bucket = await self._view(src_bucket)
        if bucket is None:
            return None  # the handler answers NoSuchBucket
        load = _ObjectRead(self.objects, src_bucket, src_key, src_version)
        action = SOURCE_ACTION if src_version is None else SOURCE_VERSION_ACTION
        tags = await _existing_tags(caller, bucket, src_key, [action], load)  # the source's
        context = context_of(tags)
        await decide.authorize(caller, action, bucket, src_key, context, load, self.bootstrap_user)
        return bucket.owner.id


ContextOf = Callable[[Mapping[str, str]], conditions.Lazy]
"""The request's condition context with the s3:ExistingObjectTag keys of one object."""


def _lock_needs(headers: Mapping[str, str]) -> list[Need]:
    """The lock actions a write's object lock headers also need (AWS), in a fixed order."""
    needs = {LOCK_HEADER_NEEDS[h] for h in LOCK_HEADER_NEEDS if h in headers}
    return sorted(needs, key=lambda n: n.action)


async def _existing_tags(
    caller: Caller,
    bucket: BucketView,
    key: str | None,
    needs: Iterable[Need],
    load: decide.ObjectLoader,
) -> Mapping[str, str]:
    """The tags of the object a decision is about, read only when a statement that names
    s3:ExistingObjectTag can apply to one of these decisions (the loader keeps the object
    for the decision itself): a policy with tag conditions elsewhere costs no read here."""
    if bucket.policy is None:
        return {}
    asks = [(n.action, decide.resource_arn(bucket.name, key, n.on_object)) for n in needs]
    if not policies.reads_existing_tags(
        bucket.policy, bucket.name, asks, caller.user_id, caller.display_name
    ):
        return {}
    obj = await load()
    return obj.tags if obj is not None else {}


class _ObjectRead:
    """Reads the object (or the named version) at most once, and only if a decision asks:
    its owner, ACL and tags decide. The handler of a GET or HEAD serves the version read
    here (``Access.object_seen``) instead of reading it again: a read inside the request
    is as good as the handler's own, and a policy that makes the owner's reads look at
    objects would otherwise cost every GET a second metadata read."""

    def __init__(
        self, objects: ObjectService, bucket: str, key: str | None, version_id: str | None
    ) -> None:
        self.objects, self.bucket, self.key, self.version_id = objects, bucket, key, version_id
        self._read: list[ObjectAccess | None] = []

    async def __call__(self) -> ObjectAccess | None:
        if self.key is None:
            return None
        if not self._read:
            self._read.append(
                await self.objects.object_access(self.bucket, self.key, self.version_id)
            )
        return self._read[0]

    def seen(self) -> ObjectAccess | None:
        """The version read, if a decision read one (None: not read, or no such version)."""
        return self._read[0] if self._read else None


def _asker(
    caller: Caller,
    bucket: BucketView,
    key: str | None,
    context_of: ContextOf,
    load: _ObjectRead,
    bootstrap_user: str,
) -> Callable[[Need], Awaitable[bool]]:
    """A further decision on the request's own object, asked by its handler (the lock
    headers of GET and HEAD, only for a version that has a lock): the one decision,
    answered yes or no, with the object's tags when a statement may test them."""

    async def may(extra: Need) -> bool:
        return await _allowed(caller, extra, bucket, key, context_of, load, bootstrap_user)

    return may


async def _allowed(
    caller: Caller,
    action: Need,
    bucket: BucketView,
    key: str | None,
    context_of: ContextOf,
    load: decide.ObjectLoader,
    bootstrap_user: str,
    plain: conditions.Lazy | None = None,
) -> bool:
    """The one decision, answered yes or no rather than raised, for a decision a handler
    asks after the request's own (a key of DeleteObjects, a bypass, the lock headers);
    ``plain``: the context to use when the object's tags are not needed."""
    tags = await _existing_tags(caller, bucket, key, [action], load)
    context = plain if plain is not None and not tags else context_of(tags)
    try:
        await decide.authorize(caller, action, bucket, key, context, load, bootstrap_user)
    except AccessDenied:
        return False
    return True
