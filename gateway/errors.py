"""S3 errors: one class per AWS error code, rendered once by gateway.wire.error.

Every failure a client can see is an ``S3Error``. The class name is the AWS ``Code``;
``status`` and ``message`` default to what AWS sends. Lower layers (meta, blockstore,
objects) raise their own small exceptions, which ``from_internal`` maps in one place.
"""

from __future__ import annotations


class S3Error(Exception):
    """Base of every error a client can see. Subclasses set ``status`` and ``message``."""

    status: int = 500
    message: str = "We encountered an internal error. Please try again."

    def __init__(
        self,
        message: str | None = None,
        *,
        resource: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: str,
    ) -> None:
        super().__init__(message or self.message)
        self.text = message or self.message
        self.resource = resource
        self.headers = headers or {}
        # Extra elements AWS puts in the <Error> document (BucketName, Key, ArgumentName, ...).
        self.extra = extra

    @property
    def code(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"{self.code}({self.text!r})"


class KmsNotFound(S3Error):
    """SSE-KMS with a key id the key provider does not have (AWS's code has a dot)."""

    status = 400
    message = "Invalid keyId"

    @property
    def code(self) -> str:
        return "KMS.NotFoundException"


class ServerSideEncryptionConfigurationNotFoundError(S3Error):
    status = 404
    message = "The server side encryption configuration was not found"


class InternalError(S3Error):
    status = 500


class AccessControlListNotSupported(S3Error):
    """An ACL on a bucket whose ObjectOwnership is BucketOwnerEnforced (ACLs disabled)."""

    status = 400
    message = "The bucket does not allow ACLs"


class AccessDenied(S3Error):
    status = 403
    message = "Access Denied"


class AmbiguousGrantByEmailAddress(S3Error):
    status = 400
    message = "The email address you provided is associated with more than one account."


class AuthorizationHeaderMalformed(S3Error):
    status = 400
    message = "The authorization header is malformed."


class AuthorizationQueryParametersError(S3Error):
    status = 400
    message = "Error parsing the X-Amz-Credential parameter."


class BadDigest(S3Error):
    status = 400
    message = "The Content-MD5 or checksum value that you specified did not match what the server received."


class BucketAlreadyExists(S3Error):
    status = 409
    message = "The requested bucket name is not available."


class BucketAlreadyOwnedByYou(S3Error):
    status = 409
    message = "Your previous request to create the named bucket succeeded and you already own it."


class BucketNotEmpty(S3Error):
    status = 409
    message = "The bucket you tried to delete is not empty"


class EntityTooLarge(S3Error):
    status = 400
    message = "Your proposed upload exceeds the maximum allowed size"


class EntityTooSmall(S3Error):
    status = 400
    message = "Your proposed upload is smaller than the minimum allowed object size."


class ExpiredToken(S3Error):
    status = 400
    message = "The provided token has expired."


class IncompleteBody(S3Error):
    status = 400
    message = "You did not provide the number of bytes specified by the Content-Length HTTP header."


class InvalidAccessKeyId(S3Error):
    status = 403
    message = "The AWS Access Key Id you provided does not exist in our records."


class InvalidArgument(S3Error):
    status = 400
    message = "Invalid Argument"


class InvalidBucketAclWithObjectOwnership(S3Error):
    status = 400
    message = "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"


class InvalidBucketName(S3Error):
    status = 400
    message = "The specified bucket is not valid."


class InvalidDigest(S3Error):
    status = 400
    message = "The Content-MD5 you specified is not valid."


class InvalidPart(S3Error):
    status = 400
    message = (
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag."
    )


class InvalidPartOrder(S3Error):
    status = 400
    message = "The list of parts was not in ascending order. Parts must be ordered by part number."


class InvalidPartNumber(S3Error):
    status = 416
    message = "The requested partnumber is not satisfiable"


class InvalidRange(S3Error):
    status = 416
    message = "The requested range is not satisfiable"


class InvalidRequest(S3Error):
    status = 400
    message = "Invalid Request"


class InvalidStorageClass(S3Error):
    status = 400
    message = "The storage class you specified is not valid"


class InvalidLocationConstraint(S3Error):
    status = 400
    message = "The specified location-constraint is not valid"


class KeyTooLongError(S3Error):
    status = 400
    message = "Your key is too long"


class MalformedACLError(S3Error):
    status = 400
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


class MalformedXML(S3Error):
    status = 400
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


class MetadataTooLarge(S3Error):
    status = 400
    message = "Your metadata headers exceed the maximum allowed metadata size."


class BadRequest(S3Error):
    status = 400
    message = "Bad Request"


class AccessForbidden(S3Error):
    """A CORS preflight the bucket's CORS configuration does not allow."""

    status = 403
    message = "CORSResponse: CORS is not enabled for this bucket."


class InvalidURI(S3Error):
    status = 400
    message = "Couldn't parse the specified URI."


class MethodNotAllowed(S3Error):
    status = 405
    message = "The specified method is not allowed against this resource."


class MissingContentLength(S3Error):
    status = 411
    message = "You must provide the Content-Length HTTP header."


class MissingSecurityHeader(S3Error):
    status = 400
    message = "Your request is missing a required header."


class NoSuchBucket(S3Error):
    status = 404
    message = "The specified bucket does not exist"


class NoSuchBucketPolicy(S3Error):
    status = 404
    message = "The bucket policy does not exist"


class NoSuchCORSConfiguration(S3Error):
    status = 404
    message = "The CORS configuration does not exist"


class NoSuchLifecycleConfiguration(S3Error):
    status = 404
    message = "The lifecycle configuration does not exist"


class NoSuchKey(S3Error):
    status = 404
    message = "The specified key does not exist."


class NoSuchPublicAccessBlockConfiguration(S3Error):
    status = 404
    message = "The public access block configuration was not found"


class NoSuchUpload(S3Error):
    status = 404
    message = (
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed."
    )


class NoSuchVersion(S3Error):
    status = 404
    message = "The specified version does not exist."


class NotImplemented(S3Error):  # noqa: A001 - the AWS code is literally "NotImplemented"
    status = 501
    message = "A header you provided implies functionality that is not implemented."


class NotModified(S3Error):
    """Not an error document: a 304 has no body. Raised to unwind, rendered bodiless."""

    status = 304
    message = "Not Modified"


class OwnershipControlsNotFoundError(S3Error):
    status = 404
    message = "The bucket ownership controls were not found"


class PreconditionFailed(S3Error):
    status = 412
    message = "At least one of the pre-conditions you specified did not hold"


class ConditionalRequestConflict(S3Error):
    status = 409
    message = "A conflicting operation occurred. If using PutObject you can retry the request."


class RequestTimeTooSkewed(S3Error):
    status = 403
    message = "The difference between the request time and the current time is too large."


class RequestTimeout(S3Error):
    status = 400
    message = (
        "Your socket connection to the server was not read from or written to within the "
        "timeout period."
    )


class RequestHeaderSectionTooLarge(S3Error):
    status = 400
    message = "Your request header section exceeds the maximum allowed size."


class ServiceUnavailable(S3Error):
    status = 503
    message = "Please reduce your request rate."


class SignatureDoesNotMatch(S3Error):
    status = 403
    message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


class UnexpectedContent(S3Error):
    status = 400
    message = "This request does not support content"


class UnresolvableGrantByEmailAddress(S3Error):
    status = 400
    message = "The email address you provided does not match any account on record."


class XAmzContentSHA256Mismatch(S3Error):
    status = 400
    message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class InvalidObjectState(S3Error):
    status = 403
    message = "The operation is not valid for the current state of the object."


class SlowDown(S3Error):
    status = 503
    message = "Please reduce your request rate."


# --- Bucket policies (PutBucketPolicy) ---


class MalformedPolicy(S3Error):
    """A bucket policy that does not parse or validate; the message says which part."""

    status = 400
    message = "Policies must be valid JSON and the first byte must be '{'"


class PolicyTooLarge(S3Error):
    """A bucket policy over 20 KiB. The S3 user guide states the limit ("Bucket policies are
    limited to 20 KB in size") but not the error; this code and text are MinIO's."""

    status = 400
    message = "Policy exceeds the maximum allowed document size."


def from_internal(exc: BaseException) -> S3Error:
    """Map an exception from meta, blockstore or objects to the S3 error a client sees.

    Anything not known here is an InternalError: we never leak internal messages.
    """
    if isinstance(exc, S3Error):
        return exc
    from blockstore.api import BlockStoreError
    from meta import errors
    from meta.api import MetaUnavailable
    from meta.lmdb_kv import MetaStoreFull

    mapping: dict[type[BaseException], type[S3Error]] = {
        errors.BucketNotFound: NoSuchBucket,
        errors.ObjectNotFound: NoSuchKey,
        errors.BucketExists: BucketAlreadyOwnedByYou,
        errors.BucketNotEmpty: BucketNotEmpty,
        errors.ConditionFailed: PreconditionFailed,
        errors.BlockVanished: SlowDown,
        errors.StageLost: SlowDown,
        errors.UploadNotFound: NoSuchUpload,
        MetaStoreFull: SlowDown,  # before MetaUnavailable, which it is a kind of
        MetaUnavailable: ServiceUnavailable,
        BlockStoreError: ServiceUnavailable,
    }
    versioned = _version_error(exc) or _lock_error(exc)
    if versioned is not None:
        return versioned
    for kind, err in mapping.items():
        if isinstance(exc, kind):
            if err is NoSuchBucket:
                return NoSuchBucket(BucketName=str(exc))
            if err is NoSuchKey:
                return NoSuchKey(Key=str(exc))
            if err is BucketNotEmpty:
                return BucketNotEmpty(BucketName=str(exc))
            if err is BucketAlreadyOwnedByYou:
                return BucketAlreadyOwnedByYou(BucketName=str(exc))
            if err is NoSuchUpload:
                return NoSuchUpload(UploadId=str(exc))
            return err()
    return InternalError()


def _version_error(exc: BaseException) -> S3Error | None:
    """Versioning's answers (meta.versions): a malformed id, a missing version, and a
    delete marker where an object was asked for (404 when current, 405 by id)."""
    from meta import errors

    if isinstance(exc, errors.InvalidVersionId):
        return InvalidArgument(
            "Invalid version id specified", ArgumentName="versionId", ArgumentValue=str(exc)
        )
    if isinstance(exc, errors.VersionNotFound):
        return NoSuchVersion(Key="", VersionId=str(exc))
    if isinstance(exc, errors.DeleteMarkerFound):
        from gateway.wire.headers import http_date

        headers = {"x-amz-delete-marker": "true", "x-amz-version-id": exc.version_id}
        if exc.by_id:
            headers["last-modified"] = http_date(exc.mtime_ms)
            return MethodNotAllowed(headers=headers, Method="GET", ResourceType="DeleteMarker")
        return NoSuchKey(headers=headers, Key=exc.key)
    return None


# --- browser uploads (PostObject, gateway/wire/form.py and gateway/auth/post_policy.py) ---


class InvalidPolicyDocument(S3Error):
    status = 400
    message = (
        "The content of the form does not meet the conditions specified in the policy document."
    )


class MalformedPOSTRequest(S3Error):
    status = 400
    message = "The body of your POST request is not well-formed multipart/form-data."


class MaxPostPreDataLengthExceeded(S3Error):
    status = 400
    message = "Your POST request fields preceding the upload file were too large."


class InvalidTag(S3Error):
    status = 400
    message = "The tag provided was not a valid tag."


# --- tagging (gateway/handlers/tagging.py) ---


class NoSuchTagSet(S3Error):
    status = 404
    message = "The TagSet does not exist"


# --- object lock (meta/lock.py, gateway/handlers/lock.py, gateway/wire/lock.py) ---


class InvalidBucketState(S3Error):
    status = 409
    message = "The request is not valid with the current state of the bucket."


class InvalidRetentionPeriod(S3Error):
    status = 400
    message = "Default retention period must be a positive integer value."


class ObjectLockConfigurationNotFoundError(S3Error):
    status = 404
    message = "Object Lock configuration does not exist for this bucket"


class NoSuchObjectLockConfiguration(S3Error):
    status = 404
    message = "The specified object does not have a ObjectLock configuration"


LOCK_MISSING = "Bucket is missing Object Lock Configuration"


def _lock_error(exc: BaseException) -> S3Error | None:
    """Object lock's refusals (meta.lock), as AWS words them."""
    from meta import lock

    if isinstance(exc, lock.ObjectLocked):
        return AccessDenied("Access Denied because object protected by object lock.")
    if isinstance(exc, lock.RetentionChangeRefused):
        return AccessDenied()
    if isinstance(exc, lock.LockNotEnabled):
        return InvalidRequest(LOCK_MISSING)
    if isinstance(exc, lock.LockedVersioning):
        return InvalidBucketState(
            "An Object Lock configuration is present on this bucket, so the versioning "
            "state cannot be changed."
        )
    if isinstance(exc, lock.VersioningNotEnabled):
        return InvalidBucketState(
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
        )
    return None
