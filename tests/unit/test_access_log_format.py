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
