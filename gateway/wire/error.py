"""S3Error -> the <Error> document AWS sends."""

from __future__ import annotations

from gateway.errors import S3Error
from gateway.wire.xml import DECLARATION, el


def error_document(err: S3Error, request_id: str) -> bytes:
    extra = "".join(el(k, v) for k, v in err.extra.items())
    resource = el("Resource", err.resource) if err.resource else ""
    return (
        DECLARATION
        + "<Error>"
        + el("Code", err.code)
        + el("Message", err.text)
        + extra
        + resource
        + el("RequestId", request_id)
        + el("HostId", request_id)
        + "</Error>"
    ).encode()
