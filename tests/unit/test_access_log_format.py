"""An access-log line is one valid JSON object whatever the client put in its key, user
or bucket (quotes, newlines, bytes that are not UTF-8): a hostile key cannot forge a
line or break the file."""

from __future__ import annotations

import json
import re

from gateway import access_log


def test_hostile_strings_stay_inside_their_field() -> None:
    key = 'a"}\n{"status":200,"forged":true,"key":"\udcff\u00e9\\'
    entry = access_log.line(
        request_id="0123456789ABCDEF", remote="::1", access_key="AK\n", user='u"',
        operation="PutObject", bucket="b", key=key, status=403, error="AccessDenied",
        bytes_in=5, bytes_out=0, seconds=0.0015,
    )  # fmt: skip
    text = access_log.format_line(entry)
    assert text.endswith("\n") and text.count("\n") == 1 and text.isascii()
    got = json.loads(text)
    assert got["key"] == key and got["user"] == 'u"' and got["access_key"] == "AK\n"
    assert "forged" not in got and got["status"] == 403 and got["duration_ms"] == 1.5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", got["time"])


def test_writes_are_whole_lines_of_at_most_pipe_buf_bytes(tmp_path) -> None:
    """Workers share stderr: each write is whole lines, at most PIPE_BUF bytes, so lines
    of different workers never interleave inside a pipe."""
    import os

    read_fd, write_fd = os.pipe()
    log = access_log.AccessLog(write_fd)
    for i in range(200):
        log.add(
            access_log.line(
                request_id=f"{i:016X}", remote="127.0.0.1", access_key="AK", user="u",
                operation="GetObject", bucket="b", key="k" * (i % 50), status=200, error="",
                bytes_in=0, bytes_out=i, seconds=0.001,
            )
        )  # fmt: skip
    chunks = list(access_log._whole_lines(access_log.format_line(e) for e in log.pending))
    assert len(chunks) > 1 and all(len(c) <= access_log.PIPE_BUF for c in chunks)
    assert all(c.endswith(b"\n") for c in chunks)
    log.flush()
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as r:
        lines = r.read().decode().splitlines()
    assert [json.loads(x)["bytes_out"] for x in lines] == list(range(200))


def test_stamp_milliseconds_truncate_within_the_second() -> None:
    """The milliseconds come from a table: the last one of a second is .999, never 1000."""
    import calendar

    whole = calendar.timegm((2026, 12, 7, 20, 59, 59))
    assert access_log._stamp(whole + 0.9995) == "2026-12-07T20:59:59.999Z"
    assert access_log._stamp(whole + 0.0) == "2026-12-07T20:59:59.000Z"
    assert access_log._stamp(whole + 1.0205) == "2026-12-07T21:00:00.020Z"


def test_a_flush_escapes_each_string_once_and_keeps_every_field(tmp_path) -> None:
    """Lines of one flush share their escaped strings: a shared one stays right in each
    line, and a hostile one in one line does not leak into the next."""
    import os

    path = tmp_path / "access.log"
    log = access_log.AccessLog.open(str(path))
    assert log is not None
    users = ['a"b', "plain", 'a"b', "\u00e9\n"]
    for i, user in enumerate(users):
        log.add(
            access_log.line(
                request_id=f"{i:016X}", remote="10.0.0.1", access_key="AK", user=user,
                operation="GetObject", bucket="b", key=f"k{i}", status=200, error="",
                bytes_in=i, bytes_out=2 * i, seconds=0.25,
            )
        )  # fmt: skip
    log.flush()
    os.close(log.fd)
    got = [json.loads(x) for x in path.read_text().splitlines()]
    assert [g["user"] for g in got] == users
    assert [g["key"] for g in got] == ["k0", "k1", "k2", "k3"]
    assert all(g["remote"] == "10.0.0.1" and g["duration_ms"] == 250 for g in got)
    assert [(g["bytes_in"], g["bytes_out"]) for g in got] == [(i, 2 * i) for i in range(4)]
