"""RequestContext: everything a handler needs, resolved once before it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request

from gateway.auth.body import BodyReader
from gateway.auth.verify import AuthResult
from gateway.authz.step import Access
from gateway.errors import MalformedXML
from gateway.objects.buckets import Buckets
from gateway.objects.listing import Listing
from gateway.objects.multipart import Multipart
from gateway.objects.service import ObjectService
from gateway.routing import Endpoint


@dataclass
class Services:
    """The long-lived parts a gateway process holds, built once at start-up: the object
    service, the handlers' only way to storage, and the configuration they answer with."""

    objects: ObjectService
    region: str = "us-east-1"
    owner_id: str = "cairn"
    owner_name: str = "cairn"
    ssec_over_http: bool = False  # --allow-ssec-over-http: SSE-C keys over plain HTTP

    @property
    def buckets(self) -> Buckets:
        return self.objects.buckets

    @property
    def listing(self) -> Listing:
        return self.objects.listing

    @property
    def multipart(self) -> Multipart:
        return self.objects.multipart

    @property
    def owner(self) -> tuple[str, str]:
        return self.owner_id, self.owner_name


@dataclass
class RequestContext:
    request: Request
    request_id: str
    endpoint: Endpoint
    headers: Mapping[str, str]
    auth: AuthResult
    services: Services
    access: Access
    _reader: BodyReader | None = field(default=None, repr=False)

    @property
    def bucket(self) -> str:
        assert self.endpoint.bucket is not None
        return self.endpoint.bucket

    @property
    def key(self) -> str:
        assert self.endpoint.key is not None
        return self.endpoint.key

    @property
    def query(self) -> dict[str, str]:
        return self.endpoint.query

    def body(self, *, check_md5: bool = True) -> BodyReader:
        """The decoded, verified request body (aws-chunked removed, checksums checked).

        Handlers that compute the body's MD5 themselves (for the ETag) pass
        check_md5=False and compare Content-MD5 with it."""
        if self._reader is None:
            self._reader = BodyReader(
                self.request.stream(), self.auth, self.headers, check_md5=check_md5
            )
        return self._reader

    async def read_body(self, limit: int = 2 << 20) -> bytes:
        """A small body in full (XML documents); larger than limit is refused."""
        out = bytearray()
        async for piece in self.body():
            out += piece
            if len(out) > limit:
                raise MalformedXML()
        return bytes(out)
