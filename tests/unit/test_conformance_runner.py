"""The conformance runner's own logic: junit parsing, grouping and the ratchet decide
whether CI passes, so they are tested without running the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import groups
from tests.conformance.runner import Outcome, check_ratchet, parse_junit, table

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="s3tests.functional.test_s3" name="test_bucket_list_empty" time="0.1"/>
  <testcase classname="s3tests.functional.test_s3" name="test_multipart_upload" time="0.2">
    <failure message="botocore.exceptions.ClientError: InvalidPart&#10;more">trace</failure>
  </testcase>
  <testcase classname="s3tests.functional.test_s3" name="test_object_write_read" time="0.1"/>
  <testcase classname="s3tests.functional.test_s3" name="test_object_write_read" time="0.0">
    <error message="failed on teardown with BucketNotEmpty">trace</error>
  </testcase>
  <testcase classname="s3tests.functional.test_headers" name="test_bucket_create_bad_ua_none_aws2"
   time="0.1"><skipped message="skip"/></testcase>
</testsuite></testsuites>
"""


@pytest.fixture
def outcomes(tmp_path: Path) -> list[Outcome]:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    return parse_junit(path)


def test_junit_ids_results_and_first_message_line(outcomes: list[Outcome]) -> None:
    by_id = {o.test_id: o for o in outcomes}
    assert by_id["test_s3.py::test_bucket_list_empty"].result == "passed"
    failed = by_id["test_s3.py::test_multipart_upload"]
    assert (failed.result, failed.message) == (
        "failed",
        "botocore.exceptions.ClientError: InvalidPart",
    )
    assert by_id["test_headers.py::test_bucket_create_bad_ua_none_aws2"].result == "skipped"


def test_a_teardown_error_makes_a_passed_test_count_as_error(outcomes: list[Outcome]) -> None:
    by_id = {o.test_id: o for o in outcomes}
    assert by_id["test_s3.py::test_object_write_read"].result == "error"


def _ratchet(tmp_path: Path, listed: list[str]) -> Path:
    path = tmp_path / "passing.txt"
    path.write_text("# comment\n" + "".join(f"{t}\n" for t in listed))
    return path


def test_ratchet_passes_when_every_listed_test_passes(
    tmp_path: Path, outcomes: list[Outcome], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _ratchet(tmp_path, ["test_s3.py::test_bucket_list_empty"])
    assert check_ratchet(path, outcomes, only=None) == 0
    assert "ratchet ok: all 1 listed tests pass" in capsys.readouterr().out


@pytest.mark.parametrize(
    "listed",
    [
        "test_s3.py::test_multipart_upload",  # fails
        "test_s3.py::test_object_write_read",  # passes, then errors in teardown
        "test_s3.py::test_renamed_away",  # not run at all
    ],
)
def test_ratchet_fails_and_names_a_listed_test_that_did_not_pass(
    tmp_path: Path, outcomes: list[Outcome], listed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _ratchet(tmp_path, ["test_s3.py::test_bucket_list_empty", listed])
    assert check_ratchet(path, outcomes, only=None) == 1
    assert listed in capsys.readouterr().out


def test_a_subset_run_does_not_count_unrun_tests_as_broken(
    tmp_path: Path, outcomes: list[Outcome]
) -> None:
    path = _ratchet(tmp_path, ["test_s3.py::test_bucket_list_empty", "test_s3.py::test_other"])
    assert check_ratchet(path, outcomes, only="bucket_list") == 0


@pytest.mark.parametrize(
    ("test_id", "group"),
    [
        ("test_s3.py::test_bucket_list_empty", "listing"),
        ("test_s3.py::test_multipart_upload", "multipart"),
        ("test_s3.py::test_object_copy_zero_size", "copy"),
        ("test_s3.py::test_get_obj_tagging", "tagging"),
        ("test_s3.py::test_object_write_check_etag", "object read/write"),  # "tag" in etag
        ("test_s3.py::test_versioning_obj_create_read_remove", "versioning"),
        ("test_s3.py::test_put_object_if_match", "conditional requests"),
        ("test_headers.py::test_bucket_create_bad_ua_none_aws2", "auth headers"),
        ("test_s3.py::test_copy_enc[sse-c-sse-c-STANDARD-STANDARD-1]", "encryption/SSE"),
    ],
)
def test_groups_by_name(test_id: str, group: str) -> None:
    assert groups.group_of(test_id) == group


def test_table_counts_each_group_and_the_total(outcomes: list[Outcome]) -> None:
    lines = table(outcomes).splitlines()
    assert lines[-1].split() == ["total", "1", "4", "1", "1", "1"]
