"""What the record layer refuses or fails with, below every module that raises it, so
meta.journal, meta.store and meta.uploads need not import each other for their errors.
The gateway maps each to an S3 error (gateway/errors.py)."""

from __future__ import annotations

from meta.api import MetaError


class BucketExists(MetaError):
    pass


class BucketNotFound(MetaError):
    pass


class BucketNotEmpty(MetaError):
    pass


class ObjectNotFound(MetaError):
    pass


class ConditionFailed(MetaError):
    """A conditional write's precondition (If-Match / If-None-Match) did not hold."""


class BlockVanished(MetaError):
    """A deduplicated block was collected while this upload was in flight: retry the upload."""


class StageLost(MetaError):
    """The stage record of this write is gone: housekeeping presumed the writer dead and
    released what it had staged. The write fails (503) and the client retries."""


class UploadNotFound(MetaError):
    pass


class PartChanged(MetaError):
    """A part was uploaded again while the upload was being completed: retry Complete."""


class InvalidVersionId(MetaError):
    """A version id that no version could have (not "null", not one Cairn makes)."""


class VersionNotFound(MetaError):
    """No version of the key has this id."""


class DeleteMarkerFound(MetaError):
    """The version asked for (or the current one) is a delete marker: GET and HEAD answer
    404 (current) or 405 (by id) with x-amz-delete-marker, as S3 does."""

    def __init__(self, key: str, version_id: str, mtime_ms: int, by_id: bool) -> None:
        super().__init__(key)
        self.key, self.version_id, self.mtime_ms, self.by_id = key, version_id, mtime_ms, by_id
