"""The condition context of a request: every key a bucket policy's Condition may test,
built in one place from the request (AWS's global aws:* keys and S3's s3:* keys).

Names are normalized as the policy engine compares them (``normalize_key``: lower-cased,
a tag key after '/' as sent), so the engine reads them without a copy per evaluation.
s3:ExistingObjectTag/<key> are the tags of the object a request acts on: read (one
metadata read) only when a statement naming such a key can apply to the request
(``gateway.authz.policies.reads_existing_tags``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from gateway.authz.caller import Caller
from gateway.routing import Endpoint

Context = Mapping[str, list[str]]


class Lazy(Mapping[str, list[str]]):
    """The context, built on first use: only a bucket with a policy reads it, so a request
    to a bucket without one does not pay for it. Its keys are normalized as the policy
    engine compares them (names lower-cased, a tag key after '/' as sent), so the engine
    reads them in place (``keys_normalized``) instead of copying them per evaluation."""

    keys_normalized = True  # gateway.authz.policy.KEYS_NORMALIZED

    def __init__(
        self,
        build: Callable[[], dict[str, list[str]]],
        free: Mapping[str, list[str]] | None = None,
    ) -> None:
        self._build = build
        self._built: dict[str, list[str]] | None = None
        # Keys known without building anything (the source address, TLS): the usual
        # conditions (an IP-range Deny, a TLS-only Deny) read only these, and then the
        # rest of the context is never built.
        self._free = free or {}

    def _context(self) -> dict[str, list[str]]:
        if self._built is None:
            self._built = self._build()
        return self._built

    def __getitem__(self, key: str) -> list[str]:
        return self._context()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._context())

    def __len__(self) -> int:
        return len(self._context())

    def get(self, key: str, default: list[str] | None = None) -> list[str] | None:  # type: ignore[override]
        """One key (the engine's lookup): the dict's own, not Mapping's KeyError path."""
        if self._built is None and key in self._free:
            return self._free[key]
        return self._context().get(key, default)

    def items(self):  # type: ignore[no-untyped-def,override]
        """The built dict's own view: the policy engine walks every item once per
        evaluation, and Mapping's generic view costs a lookup per key."""
        return self._context().items()


# Request headers that S3 exposes as s3:<header name> condition keys.
_HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-storage-class",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-content-sha256",
    "x-amz-website-redirect-location",
)
_LOCK_KEYS = {
    "x-amz-object-lock-mode": "s3:object-lock-mode",
    "x-amz-object-lock-retain-until-date": "s3:object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold": "s3:object-lock-legal-hold",
}
_LIST_KEYS = ("prefix", "delimiter", "max-keys")


def free_keys(client_ip: str | None, secure: bool) -> dict[str, list[str]]:
    """The keys ``build`` gives that cost nothing to know (Lazy answers them unbuilt)."""
    free = {"aws:securetransport": ["true" if secure else "false"]}
    if client_ip:
        free["aws:sourceip"] = [client_ip]
    return free


def build(
    endpoint: Endpoint,
    headers: Mapping[str, str],
    caller: Caller,
    client_ip: str | None,
    secure: bool,
    existing_tags: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """The request's condition keys (normalized names: see the module docstring)."""
    # aws:CurrentTime and aws:EpochTime are the policy engine's to fill, with the time it
    # evaluates at, and only when a condition reads them.
    ctx = free_keys(client_ip, secure)
    ctx["s3:authtype"] = ["REST-HEADER" if "authorization" in headers else "REST-QUERY-STRING"]
    if caller.user_id is not None:
        ctx["aws:userid"] = [caller.user_id]
        ctx["aws:principalaccount"] = [caller.user_id]
        ctx["aws:username"] = [caller.display_name or caller.user_id]
        ctx["aws:principaltype"] = ["User"]
    else:
        ctx["aws:principaltype"] = ["Anonymous"]
    if "user-agent" in headers:
        ctx["aws:useragent"] = [headers["user-agent"]]
    if "referer" in headers:
        ctx["aws:referer"] = [headers["referer"]]
    for name in _HEADER_KEYS:
        if name in headers:
            ctx["s3:" + name] = [headers[name].strip()]
    for header, key in _LOCK_KEYS.items():
        if header in headers:
            ctx[key] = [headers[header].strip()]
    for name in _LIST_KEYS:
        if name in endpoint.query and endpoint.op.startswith("List"):
            ctx["s3:" + name] = [endpoint.query[name]]
    if "versionId" in endpoint.query:
        ctx["s3:versionid"] = [endpoint.query["versionId"]]
    for key, value in _request_tags(headers.get("x-amz-tagging")).items():
        ctx["s3:requestobjecttag/" + key] = [value]
    if "x-amz-tagging" in headers:
        ctx["s3:requestobjecttagkeys"] = list(_request_tags(headers["x-amz-tagging"]))
    for key, value in (existing_tags or {}).items():
        ctx["s3:existingobjecttag/" + key] = [value]
    return ctx


def _request_tags(value: str | None) -> dict[str, str]:
    """x-amz-tagging: URL-encoded key=value pairs."""
    if not value:
        return {}
    from urllib.parse import parse_qsl

    return dict(parse_qsl(value, keep_blank_values=True))
