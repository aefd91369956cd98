"""Wire format of Put/GetBucketVersioning: the <VersioningConfiguration> document."""

from __future__ import annotations

from gateway.errors import MalformedXML
from gateway.wire.xml import document, el, parse

STATUSES = ("Enabled", "Suspended")
_FIELDS = {"Status", "MfaDelete", "MFADelete"}


def parse_versioning(body: bytes) -> tuple[str | None, str | None]:
    """(Status, MfaDelete) of a PutBucketVersioning body; MalformedXML for anything
    else, as S3 answers (an unknown element, a status that is neither value)."""
    doc = parse(body, "VersioningConfiguration")
    if not isinstance(doc, dict) or set(doc) - _FIELDS:
        raise MalformedXML()
    status = doc.get("Status")
    mfa = doc.get("MfaDelete", doc.get("MFADelete"))
    if status is not None and status not in STATUSES:
        raise MalformedXML()
    if mfa is not None and mfa not in ("Enabled", "Disabled"):
        raise MalformedXML()
    return status, mfa


def versioning(status: str | None) -> bytes:
    """A bucket never versioned has an empty configuration, as S3 answers."""
    return document("VersioningConfiguration", [el("Status", status)] if status else [])
