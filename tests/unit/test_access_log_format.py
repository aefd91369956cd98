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
