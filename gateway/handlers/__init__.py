"""One module per S3 operation family; HANDLERS maps operation names to functions."""

from __future__ import annotations

from gateway.handlers import (
    bucket,
    copy,
    listing,
    multi_delete,
    multipart,
    object,
    post_object,
    service,
)

HANDLERS = {
    "ListBuckets": service.list_buckets,
    "CreateBucket": bucket.create_bucket,
    "HeadBucket": bucket.head_bucket,
    "DeleteBucket": bucket.delete_bucket,
    "GetBucketLocation": bucket.get_bucket_location,
    "GetBucketVersioning": bucket.get_bucket_versioning,
    "ListObjects": listing.list_objects,
    "ListObjectsV2": listing.list_objects_v2,
    "ListObjectVersions": listing.list_object_versions,
    "DeleteObjects": multi_delete.delete_objects,
    "PutObject": object.put_object,
    "PostObject": post_object.post_object,
    "GetObject": object.get_object,
    "HeadObject": object.head_object,
    "GetObjectTorrent": object.get_object_torrent,
    "DeleteObject": object.delete_object,
    "CopyObject": copy.copy_object,
    "CreateMultipartUpload": multipart.create_multipart_upload,
    "UploadPart": multipart.upload_part,
    "UploadPartCopy": multipart.upload_part_copy,
    "CompleteMultipartUpload": multipart.complete_multipart_upload,
    "AbortMultipartUpload": multipart.abort_multipart_upload,
    "ListParts": multipart.list_parts,
    "ListMultipartUploads": multipart.list_multipart_uploads,
}
