"""Bucket lifecycle against a real `cairn serve` with boto3: the configuration's round
trip and AWS's validation (bad input changes nothing), x-amz-expiration on PUT, GET and
HEAD, and the housekeeper carrying rules out with a scaled day
(``--lifecycle-day-seconds``): current objects, noncurrent versions, lone delete markers
and incomplete uploads, with the counts in the Prometheus metrics."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx
import pytest

from tests.conftest import make_client
from tests.integration.helpers import LIFECYCLE_DAY, headers_of, s3_error
from tests.server import CairnServer

DAY = LIFECYCLE_DAY  # seconds in a lifecycle day on the test server (lc_server)


@pytest.fixture
def s3(lc_server: CairnServer):
    return make_client(lc_server)


@pytest.fixture
def bucket(s3) -> str:
    name = f"lc-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def versioned(s3, bucket: str) -> str:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def rules_of(s3, bucket: str) -> list[dict]:
    return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]


def put_rules(s3, bucket: str, *rules: dict) -> None:
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)}
    )


def keys_of(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def wait_for(check: Callable[[], bool], timeout: float = 8 * DAY) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "lifecycle did not act in time"
        time.sleep(0.2)


def metric(server: CairnServer, name: str, **labels: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics").text  # type: ignore[attr-defined]
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if m and (not want or want in (m.group(1) or "")):
            total += float(m.group(2))
    return total


# ------------------------------------------------------------------- configuration


def test_round_trip_in_every_filter_form(s3, bucket) -> None:
    rules = [
        {"ID": "legacy", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 30}},
        {"ID": "date", "Filter": {"Prefix": "old/"}, "Status": "Disabled",
         "Expiration": {"Date": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)}},
        {"ID": "tag", "Filter": {"Tag": {"Key": "tmp", "Value": "yes"}}, "Status": "Enabled",
         "Expiration": {"Days": 1}},
        {"ID": "and", "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}],
                                         "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 99}},
         "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 3,
                                                               "NewerNoncurrentVersions": 2}},
        {"ID": "size", "Filter": {"ObjectSizeGreaterThan": 100}, "Status": "Enabled",
         "Expiration": {"Days": 5}},
        {"ID": "markers", "Filter": {}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
    ]  # fmt: skip
    put_rules(s3, bucket, *rules)
    assert rules_of(s3, bucket) == rules


def test_missing_configuration_and_delete(s3, bucket) -> None:
    with s3_error("NoSuchLifecycleConfiguration", 404):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert s3.delete_bucket_lifecycle(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    put_rules(s3, bucket, {"Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}})
    (rule,) = rules_of(s3, bucket)
    assert rule["ID"]  # AWS gives a rule without an ID one
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with s3_error("NoSuchLifecycleConfiguration", 404):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    with s3_error("NoSuchBucket", 404):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket + "-none")


GOOD = {"ID": "keep", "Prefix": "k/", "Status": "Enabled", "Expiration": {"Days": 9}}
BAD_RULES = [
    ("InvalidArgument", [{"ID": "a" * 256, "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}}]),
    ("InvalidArgument", [{**GOOD, "ID": "x"}, {**GOOD, "ID": "x", "Prefix": "y/"}]),
    ("InvalidArgument", [{"ID": "d", "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 0}}]),
    ("InvalidArgument", [{"ID": "n", "Prefix": "", "Status": "Enabled",
                          "NoncurrentVersionExpiration": {"NoncurrentDays": -1}}]),
    ("InvalidArgument", [{"ID": "u", "Prefix": "", "Status": "Enabled",
                          "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 0}}]),
    ("InvalidArgument", [{"ID": "none", "Prefix": "", "Status": "Enabled"}]),
    ("InvalidArgument", [{"ID": "both", "Prefix": "", "Filter": {"Prefix": ""}, "Status": "Enabled",
                          "Expiration": {"Days": 1}}]),
    ("InvalidArgument", [{"ID": "tagmarker", "Filter": {"Tag": {"Key": "a", "Value": "b"}},
                          "Status": "Enabled", "Expiration": {"ExpiredObjectDeleteMarker": True}}]),
    ("InvalidArgument", [{"ID": "tagabort", "Filter": {"Tag": {"Key": "a", "Value": "b"}},
                          "Status": "Enabled",
                          "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]),
    ("MalformedXML", [{"ID": "s", "Prefix": "", "Status": "enabled", "Expiration": {"Days": 1}}]),
    ("MalformedXML", [{"ID": "two", "Prefix": "", "Status": "Enabled",
                       "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True}}]),
    ("MalformedXML", [{**GOOD, "ID": f"r{i}"} for i in range(1001)]),
    ("InvalidStorageClass", [{"ID": "t", "Prefix": "", "Status": "Enabled",
                              "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}]),
]  # fmt: skip


@pytest.mark.parametrize(("code", "rules"), BAD_RULES)
def test_bad_configurations_change_nothing(s3, bucket, code, rules) -> None:
    put_rules(s3, bucket, GOOD)
    with s3_error(code, 400):
        put_rules(s3, bucket, *rules)
    assert rules_of(s3, bucket) == [GOOD]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Prefix/>"
         b"<Expiration><Date>20200101</Date></Expiration></Rule></LifecycleConfiguration>",
         "MalformedXML"),
        (b"<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Prefix/>"
         b"<Expiration><Date>2020-01-01T10:00:00Z</Date></Expiration></Rule>"
         b"</LifecycleConfiguration>", "InvalidArgument"),
        (b"<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Prefix/>"
         b"<Expiration><Days>1</Days></Expiration><Bogus/></Rule></LifecycleConfiguration>",
         "MalformedXML"),
        (b"<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Filter><Prefix/>"
         b"<Tag><Key>a</Key><Value>b</Value></Tag></Filter><Expiration><Days>1</Days>"
         b"</Expiration></Rule></LifecycleConfiguration>", "MalformedXML"),
        (b"<LifecycleConfiguration/>", "MalformedXML"),
        (b"not xml", "MalformedXML"),
    ],
)  # fmt: skip
def test_bad_documents_change_nothing(lc_server, s3, bucket, body, code) -> None:
    from tests.integration.helpers import error_code_of, raw_signed

    put_rules(s3, bucket, GOOD)
    resp = raw_signed(lc_server, "PUT", bucket, None, params={"lifecycle": ""}, body=body)
    assert (resp.status_code, error_code_of(resp)) == (400, code), resp.text
    assert rules_of(s3, bucket) == [GOOD]


# ------------------------------------------------------------------- x-amz-expiration


def _expiry(headers: dict[str, str]) -> tuple[dt.datetime, str] | None:
    value = headers.get("x-amz-expiration")
    if value is None:
        return None
    m = re.fullmatch(r'expiry-date="(.+)", rule-id="(.+)"', value)
    assert m, value
    return parsedate_to_datetime(m.group(1)), m.group(2)


def test_expiration_header_on_put_get_head(s3, bucket) -> None:
    put_rules(
        s3, bucket,
        {"ID": "week", "Prefix": "p/", "Status": "Enabled", "Expiration": {"Days": 7}},
        {"ID": "soon", "Filter": {"Tag": {"Key": "t", "Value": "1"}}, "Status": "Enabled",
         "Expiration": {"Days": 2}},
        {"ID": "off", "Prefix": "", "Status": "Disabled", "Expiration": {"Days": 1}},
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    found = _expiry(headers_of(s3.put_object(Bucket=bucket, Key="p/a", Body=b"x")))
    assert found is not None
    when, rule = found
    # AWS: creation + 7 days, rounded up to the next midnight UTC (whatever the test day)
    assert rule == "week" and (when.hour, when.minute, when.second) == (0, 0, 0)
    assert dt.timedelta(days=7) < when - now <= dt.timedelta(days=8)
    for call in (s3.get_object, s3.head_object):
        assert _expiry(headers_of(call(Bucket=bucket, Key="p/a"))) == found
    s3.put_object(Bucket=bucket, Key="p/b", Body=b"x", Tagging="t=1")
    assert _expiry(headers_of(s3.head_object(Bucket=bucket, Key="p/b")))[1] == "soon"  # earliest
    assert _expiry(headers_of(s3.put_object(Bucket=bucket, Key="q", Body=b"x"))) is None
    copied = s3.copy_object(Bucket=bucket, Key="p/c", CopySource={"Bucket": bucket, "Key": "q"})
    assert _expiry(headers_of(copied))[1] == "week"


# ------------------------------------------------------------------- execution


def test_current_objects_expire_by_prefix_tag_and_size(lc_server, s3, bucket) -> None:
    before = metric(lc_server, "cairn_lifecycle_expired", kind="objects")
    for key in ("tmp/a", "tmp/b", "keep/a"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_object(Bucket=bucket, Key="tag/a", Body=b"x", Tagging="gone=yes")
    s3.put_object(Bucket=bucket, Key="tag/b", Body=b"x", Tagging="gone=no")
    s3.put_object(Bucket=bucket, Key="big", Body=b"x" * 300)
    put_rules(
        s3, bucket,
        {"ID": "tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
        {"ID": "tag", "Filter": {"Tag": {"Key": "gone", "Value": "yes"}}, "Status": "Enabled",
         "Expiration": {"Days": 1}},
        {"ID": "big", "Filter": {"ObjectSizeGreaterThan": 200}, "Status": "Enabled",
         "Expiration": {"Days": 1}},
        {"ID": "later", "Filter": {"Prefix": "keep/"}, "Status": "Enabled",
         "Expiration": {"Days": 1000}},
    )  # fmt: skip
    wait_for(lambda: keys_of(s3, bucket) == ["keep/a", "tag/b"])
    time.sleep(2 * DAY)  # and nothing else goes later
    assert keys_of(s3, bucket) == ["keep/a", "tag/b"]
    assert not s3.list_object_versions(Bucket=bucket).get("DeleteMarkers")  # unversioned
    wait_for(lambda: metric(lc_server, "cairn_lifecycle_expired", kind="objects") >= before + 4)


def test_versioned_expiry_adds_one_marker_then_noncurrent_and_marker_go(s3, bucket) -> None:
    versioned(s3, bucket)
    s3.put_object(Bucket=bucket, Key="doc", Body=b"v1")
    put_rules(
        s3, bucket,
        {"ID": "cur", "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}},
        {"ID": "old", "Prefix": "", "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 3}},
    )  # fmt: skip
    # Current version expires: a delete marker hides it (exactly one, however many runs).
    wait_for(lambda: keys_of(s3, bucket) == [], timeout=4 * DAY)
    listing = s3.list_object_versions(Bucket=bucket)
    assert len(listing["Versions"]) == 1 and len(listing["DeleteMarkers"]) == 1
    # Three days after it became noncurrent the version goes, then (Expiration in Days)
    # the lone marker too.
    wait_for(lambda: "Versions" not in s3.list_object_versions(Bucket=bucket), timeout=6 * DAY)
    wait_for(lambda: "DeleteMarkers" not in s3.list_object_versions(Bucket=bucket))


def test_newer_noncurrent_versions_are_kept(s3, bucket) -> None:
    versioned(s3, bucket)
    for i in range(6):
        s3.put_object(Bucket=bucket, Key="k", Body=f"v{i}".encode())
    put_rules(
        s3, bucket,
        {"ID": "n", "Prefix": "", "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}},
    )  # fmt: skip

    def versions() -> list[str]:
        return [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket).get("Versions", [])]

    wait_for(lambda: len(versions()) == 3)
    time.sleep(2 * DAY)
    bodies = [
        s3.get_object(Bucket=bucket, Key="k", VersionId=v)["Body"].read().decode()
        for v in versions()
    ]
    assert bodies == ["v5", "v4", "v3"]  # the current one and the 2 newest noncurrent


def test_expired_object_delete_marker_only_when_alone(s3, bucket) -> None:
    versioned(s3, bucket)
    s3.put_object(Bucket=bucket, Key="alone", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="alone")
    s3.delete_object(Bucket=bucket, Key="alone-from-start")  # a marker with nothing under it
    s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="kept")
    put_rules(
        s3, bucket,
        {"ID": "m", "Prefix": "", "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
        {"ID": "n", "Prefix": "alone", "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
    )  # fmt: skip

    def markers() -> list[str]:
        return sorted(
            m["Key"] for m in s3.list_object_versions(Bucket=bucket).get("DeleteMarkers", [])
        )

    wait_for(lambda: markers() == ["kept"])
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["Key"] for v in versions] == ["kept"]  # its version keeps its marker


def test_abort_date_on_create_multipart_upload(s3, bucket) -> None:
    put_rules(
        s3, bucket,
        {"ID": "u3", "Prefix": "up/", "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3}},
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    made = s3.create_multipart_upload(Bucket=bucket, Key="up/x")
    assert made["AbortRuleId"] == "u3"
    when = made["AbortDate"]
    assert (when.hour, when.minute, when.second) == (0, 0, 0)
    assert dt.timedelta(days=3) < when - now <= dt.timedelta(days=4)
    other = s3.create_multipart_upload(Bucket=bucket, Key="elsewhere")
    assert "AbortDate" not in other and "AbortRuleId" not in other


def test_incomplete_uploads_are_aborted(s3, bucket) -> None:
    old = s3.create_multipart_upload(Bucket=bucket, Key="up/a")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="up/a", UploadId=old, PartNumber=1, Body=b"p")
    other = s3.create_multipart_upload(Bucket=bucket, Key="keep/a")["UploadId"]
    put_rules(
        s3, bucket,
        {"ID": "u", "Prefix": "up/", "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    )  # fmt: skip

    def uploads() -> list[str]:
        return [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    wait_for(lambda: uploads() == [other])
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="up/a", UploadId=old)


def test_disabled_rules_and_deleted_configuration_do_nothing(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="b", Body=b"x")
    put_rules(
        s3, bucket, {"ID": "off", "Prefix": "", "Status": "Disabled", "Expiration": {"Days": 1}}
    )
    time.sleep(3 * DAY)
    assert keys_of(s3, bucket) == ["a", "b"]
