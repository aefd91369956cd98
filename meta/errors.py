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
