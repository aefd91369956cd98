"""The console's S3 client: real S3 requests to this gateway, signed as the signed-in user.

Every bucket and object action of the console goes through here, so the gateway's
authentication and its one authorization step decide it, as for any S3 client: the
console has no access rules of its own. Bodies stream both ways (an upload is passed on
piece by piece, a download likewise), so memory stays bounded whatever the object size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import xmltodict

from gateway.console.signing import Keys, object_path, presign, query_string, sign_headers

PAGE_SIZE = 100  # keys or buckets per page the console shows
HEAD_ERRORS = {
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
}


class S3Failure(Exception):
    """An S3 error answer, kept as S3 gave it (status, code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Bucket:
    name: str
    created: str


@dataclass(frozen=True)
class BucketPage:
    buckets: list[Bucket]
    next_token: str | None


@dataclass(frozen=True)
class ObjectEntry:
    key: str
    size: int
    modified: str
    etag: str


@dataclass(frozen=True)
class ObjectPage:
    prefixes: list[str]
    objects: list[ObjectEntry]
    next_token: str | None


@dataclass
class S3Endpoint:
    """Where this gateway's S3 port answers, for the console's own requests (``url``,
    usually loopback) and for the links it hands out (``public_url``: what the browser
    can reach; None: the console's host name with the S3 port)."""

    url: str
    region: str = "us-east-1"
    verify: bool | str = True  # a TLS gateway's own certificate file
    client: httpx.AsyncClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.host = httpx.URL(self.url).netloc.decode()
        self.client = httpx.AsyncClient(base_url=self.url, verify=self.verify, timeout=60.0)

    async def close(self) -> None:
        await self.client.aclose()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _failure(response: httpx.Response, body: bytes) -> S3Failure:
    code, message = "HTTP" + str(response.status_code), response.reason_phrase
    if body:
        try:
            err = xmltodict.parse(body).get("Error", {})
            code, message = err.get("Code", code), err.get("Message", message)
        except Exception:  # noqa: BLE001 - a body that is not S3 XML keeps the status
            pass
    return S3Failure(response.status_code, code, message or "")


class UserS3:
    """S3 as one user: every call signed with that user's keys."""

    def __init__(self, endpoint: S3Endpoint, keys: Keys) -> None:
        self.endpoint = endpoint
        self.keys = keys

    async def _signed(
        self, method: str, path: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        query = query_string(params)
        target = path + ("?" + query if query else "")
        base = {"host": self.endpoint.host, **headers}
        signed = await sign_headers(self.keys, self.endpoint.region, method, target, base)
        return target, signed

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: Any = None,
    ) -> bytes:
        target, signed = await self._signed(method, path, params or {}, headers or {})
        response = await self.endpoint.client.request(
            method, target, headers=signed, content=content
        )
        if response.status_code >= 300:
            raise _failure(response, response.content)
        return response.content

    async def list_buckets(self, token: str | None = None, limit: int = PAGE_SIZE) -> BucketPage:
        params = {"max-buckets": str(limit)}
        if token:
            params["continuation-token"] = token
        doc = xmltodict.parse(await self._call("GET", "/", params))["ListAllMyBucketsResult"]
        found = _as_list((doc.get("Buckets") or {}).get("Bucket"))
        buckets = [Bucket(b["Name"], b.get("CreationDate", "")) for b in found]
        return BucketPage(buckets, doc.get("ContinuationToken"))

    async def create_bucket(self, bucket: str) -> None:
        await self._call("PUT", object_path(bucket))

    async def list_objects(
        self, bucket: str, prefix: str = "", token: str | None = None, limit: int = PAGE_SIZE
    ) -> ObjectPage:
        """One page of a delimiter listing: the 'folders' and objects right under prefix."""
        params = {"list-type": "2", "delimiter": "/", "prefix": prefix, "max-keys": str(limit)}
        if token:
            params["continuation-token"] = token
        raw = await self._call("GET", object_path(bucket), params)
        doc = xmltodict.parse(raw)["ListBucketResult"]
        prefixes = [p["Prefix"] for p in _as_list(doc.get("CommonPrefixes"))]
        objects = [
            ObjectEntry(o["Key"], int(o["Size"]), o.get("LastModified", ""), o.get("ETag", ""))
            for o in _as_list(doc.get("Contents"))
        ]
        truncated = doc.get("IsTruncated") == "true"
        return ObjectPage(
            prefixes, objects, doc.get("NextContinuationToken") if truncated else None
        )

    async def put_object(
        self, bucket: str, key: str, body: AsyncIterator[bytes], length: int, content_type: str
    ) -> str:
        """Stream ``length`` bytes into the object; returns its ETag."""
        headers = {"content-length": str(length), "content-type": content_type}
        target, signed = await self._signed("PUT", object_path(bucket, key), {}, headers)
        response = await self.endpoint.client.request("PUT", target, headers=signed, content=body)
        if response.status_code >= 300:
            raise _failure(response, response.content)
        return response.headers.get("etag", "")

    async def open_object(self, bucket: str, key: str) -> httpx.Response:
        """A GET whose body is not read yet: the caller streams it and closes it."""
        target, signed = await self._signed("GET", object_path(bucket, key), {}, {})
        request = self.endpoint.client.build_request("GET", target, headers=signed)
        response = await self.endpoint.client.send(request, stream=True)
        if response.status_code >= 300:
            body = await response.aread()
            await response.aclose()
            raise _failure(response, body)
        return response

    async def delete_object(self, bucket: str, key: str) -> None:
        await self._call("DELETE", object_path(bucket, key))

    async def head_object(self, bucket: str, key: str) -> None:
        """Raises S3Failure when the user may not read the object (or it is gone). A HEAD
        answer has no body to name its error, so the status names it, as SDKs do."""
        try:
            await self._call("HEAD", object_path(bucket, key))
        except S3Failure as exc:
            named = HEAD_ERRORS.get(exc.status)
            if named is None:
                raise
            raise S3Failure(exc.status, *named) from None

    async def presigned_get(self, bucket: str, key: str, public_url: str, expires: int) -> str:
        """A GET URL for the S3 endpoint at ``public_url`` that works for ``expires`` s."""
        base = httpx.URL(public_url)
        target = await presign(
            self.keys, self.endpoint.region, "GET", base.netloc.decode(),
            object_path(bucket, key), expires,
        )  # fmt: skip
        return str(public_url).rstrip("/") + target
