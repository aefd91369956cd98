"""The grouping rules of the conformance report, in one place.

A test of the Ceph suite belongs to the first group whose rule matches its name (the test
function's name, without ``test_``; test_headers.py is all "auth headers"). Feature groups
come first, so that e.g. ``bucket_policy_put_obj_acl`` is a policy test and
``versioning_obj_list_marker`` a versioning one, then the core groups, then "other".

Each group also names who owns its failures: an open feature issue, or the core
conformance work (ours to fix later). tests/conformance/owners.md is generated from a run
with these rules (``python -m tests.conformance --write-owners``).
"""

from __future__ import annotations

import re

# Owners of failures.
ACCESS = "access control: ACLs, bucket policies, public access, presigned POST"
DATA_FEATURES = "versioning, object lock, tagging, lifecycle"
ENC_CORS_ATTRS = "encryption, CORS, GetObjectAttributes"
CORE = "core conformance (ours to fix later)"

# (group, owner, rule on the name without "test_"); the first match wins.
RULES: list[tuple[str, str, str]] = [
    ("post/presigned POST", ACCESS, r"post_object"),
    ("get-object-attributes", ENC_CORS_ATTRS, r"object_attributes"),
    ("object lock", DATA_FEATURES, r"object_lock"),
    ("lifecycle", DATA_FEATURES, r"lifecycle|restore|read_through|delete_marker_expiration"),
    ("encryption/SSE", ENC_CORS_ATTRS, r"sse|encrypt|_enc_|_enc$|_kms"),
    ("policy", ACCESS, r"policy|public_block|block_public|ignore_public_acls"),
    ("cors", ENC_CORS_ATTRS, r"cors"),
    (
        "acl",
        ACCESS,
        r"acl|access_bucket|anon|ownership|owner_enforced|owner_preferred|object_writer"
        r"|nonowner|not_owned|expected_bucket_owner"
        r"|object_raw_get($|_bucket_gone|_object_gone)|object_raw_response_headers",
    ),
    # "tag" as a word: not the one in "etag" or "percentage".
    ("tagging", DATA_FEATURES, r"(^|_)(tags?|tagging)(_|$)"),
    ("versioning", DATA_FEATURES, r"versioning|versioned|delete_marker|_version_"),
    ("checksums", CORE, r"checksum|cksum"),
    (
        "conditional requests",
        CORE,
        r"if_?match|if_?none_?match|ifnonmatch|modifiedsince|conditional_write",
    ),
    ("copy", CORE, r"copy"),
    ("multipart", CORE, r"multipart|upload_part|_part$"),
    ("listing", CORE, r"bucket_list|bucket_listv2|list_buckets|buckets_list|list_objects"),
    (
        "bucket operations",
        CORE,
        r"bucket|basic_key_count|account_usage",
    ),
    ("other", CORE, r"torrent"),
    (
        "object read/write",
        CORE,
        r"object|obj_|atomic|ranged|100_continue|put_|get_|delete_",
    ),
]
AUTH_HEADERS = ("auth headers", CORE)
OTHER = ("other", CORE)

GROUP_ORDER = [
    "bucket operations",
    "object read/write",
    "multipart",
    "copy",
    "conditional requests",
    "checksums",
    "auth headers",
    "listing",
    "acl",
    "policy",
    "versioning",
    "object lock",
    "tagging",
    "lifecycle",
    "encryption/SSE",
    "cors",
    "post/presigned POST",
    "get-object-attributes",
    "other",
]

_COMPILED = [(g, o, re.compile(rule)) for g, o, rule in RULES]
_AUTH_BY_NAME = re.compile(r"^list_buckets_(invalid|bad)_auth$")


def split_id(test_id: str) -> tuple[str, str]:
    """("test_s3.py", "bucket_list_empty") from "test_s3.py::test_bucket_list_empty"."""
    module, _, name = test_id.partition("::")
    name = name.split("[", 1)[0]
    return module.rsplit("/", 1)[-1], name.removeprefix("test_")


def classify(test_id: str) -> tuple[str, str]:
    """(group, owner) of a test id such as "test_s3.py::test_bucket_list_empty"."""
    module, name = split_id(test_id)
    if module == "test_headers.py" or _AUTH_BY_NAME.match(name):
        return AUTH_HEADERS
    for group, owner, rule in _COMPILED:
        if rule.search(name):
            return group, owner
    return OTHER


def group_of(test_id: str) -> str:
    return classify(test_id)[0]


def owner_of(test_id: str) -> str:
    return classify(test_id)[1]
