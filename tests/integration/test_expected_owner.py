"""x-amz-expected-bucket-owner and x-amz-source-expected-bucket-owner: a request that
expects another account to own the bucket (or a copy's source bucket) is AccessDenied
before it changes anything; the owner's own id, as ListBuckets shows it, passes."""

from __future__ import annotations

from tests.integration.helpers import get_bytes, object_absent, s3_error


def test_expected_bucket_owner(s3, bucket):
    owner = s3.list_buckets()["Owner"]["ID"]
    other = owner + "foo"
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ExpectedBucketOwner=owner)
    assert s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=owner)["KeyCount"] == 1
    assert s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=owner)["Body"].read() == b"v"

    with s3_error("AccessDenied", 403):
        s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=other)
    with s3_error("AccessDenied", 403):
        s3.list_objects(Bucket=bucket, ExpectedBucketOwner=other)
    with s3_error("403", 403):  # HEAD: no body, so the status is the code
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=other)
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=bucket, Key="k", Body=b"changed", ExpectedBucketOwner=other)
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=other)
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=bucket, Key="k", ExpectedBucketOwner=other)
    with s3_error("AccessDenied", 403):
        s3.create_multipart_upload(Bucket=bucket, Key="mp", ExpectedBucketOwner=other)
    assert get_bytes(s3, bucket, "k") == b"v"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_source_expected_bucket_owner(s3, bucket):
    owner = s3.list_buckets()["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    source = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, ExpectedSourceBucketOwner=owner)
    assert get_bytes(s3, bucket, "dst") == b"source"
    with s3_error("AccessDenied", 403):
        s3.copy_object(
            Bucket=bucket, Key="other", CopySource=source, ExpectedSourceBucketOwner="x" + owner
        )
    with s3_error("AccessDenied", 403):
        s3.copy_object(
            Bucket=bucket, Key="other", CopySource=source, ExpectedBucketOwner="x" + owner
        )
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    try:
        with s3_error("AccessDenied", 403):
            s3.upload_part_copy(
                Bucket=bucket,
                Key="mp",
                UploadId=upload_id,
                PartNumber=1,
                CopySource=source,
                ExpectedSourceBucketOwner="x" + owner,
            )
        part = s3.upload_part_copy(
            Bucket=bucket,
            Key="mp",
            UploadId=upload_id,
            PartNumber=1,
            CopySource=source,
            ExpectedSourceBucketOwner=owner,
        )
        assert part["CopyPartResult"]["ETag"]
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert object_absent(s3, bucket, "other")
