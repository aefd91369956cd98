"""The pure parts of lifecycle: the wire document's round trip into the rules the
housekeeper applies, and when each action falls due (AWS's midnight rounding, the scaled
test day, NewerNoncurrentVersions, lone markers, uploads)."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidArgument, MalformedXML
from gateway.wire.lifecycle import parse_lifecycle, render_lifecycle
from meta import lifecycle
from meta.lifecycle import AWS_CLOCK, DAY_MS, Clock, Rule

T0 = calendar.timegm((2026, 3, 14, 15, 9, 26)) * 1000  # mid-afternoon UTC


def doc(*rules: str) -> bytes:
    return ("<LifecycleConfiguration>" + "".join(rules) + "</LifecycleConfiguration>").encode()


def rule(body: str, rid: str = "r", status: str = "Enabled") -> str:
    return f"<Rule><ID>{rid}</ID><Status>{status}</Status>{body}</Rule>"


def test_aws_rounds_up_to_the_next_midnight() -> None:
    due = AWS_CLOCK.due(T0, 3)
    assert due == calendar.timegm((2026, 3, 18, 0, 0, 0)) * 1000
    assert AWS_CLOCK.due(calendar.timegm((2026, 3, 14, 0, 0, 0)) * 1000, 1) == (
        calendar.timegm((2026, 3, 16, 0, 0, 0)) * 1000
    )


def test_a_scaled_day_is_not_rounded() -> None:
    assert Clock.scaled(10).due(T0, 2) == T0 + 20_000
    assert Clock.scaled(None) == AWS_CLOCK


def test_the_earliest_matching_expiration_wins_and_disabled_rules_do_not_count() -> None:
    rules = lifecycle.rules_of(
        parse_lifecycle(
            doc(
                rule("<Filter><Prefix>a/</Prefix></Filter><Expiration><Days>9</Days></Expiration>", "nine"),
                rule("<Filter><Tag><Key>t</Key><Value>1</Value></Tag></Filter>"
                     "<Expiration><Days>2</Days></Expiration>", "two"),
                rule("<Prefix></Prefix><Expiration><Days>1</Days></Expiration>", "off", "Disabled"),
            )
        )
    )  # fmt: skip
    assert lifecycle.expiry(rules, "a/x", 5, {}, T0, AWS_CLOCK)[1] == "nine"
    assert lifecycle.expiry(rules, "a/x", 5, {"t": "1"}, T0, AWS_CLOCK)[1] == "two"
    assert lifecycle.expiry(rules, "b/x", 5, {"t": "2"}, T0, AWS_CLOCK) is None


def test_sizes_are_strict_bounds() -> None:
    (r,) = lifecycle.rules_of(
        parse_lifecycle(
            doc(rule("<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
                     "<ObjectSizeLessThan>20</ObjectSizeLessThan></And></Filter>"
                     "<Expiration><Days>1</Days></Expiration>"))
        )
    )  # fmt: skip
    assert [r.matches("k", n, {}) for n in (10, 11, 19, 20)] == [False, True, True, False]


def test_newer_noncurrent_versions_are_kept_whatever_their_age() -> None:
    rules = [Rule("n", True, noncurrent_days=1, newer_noncurrent=2)]
    late = T0 + 10 * DAY_MS
    due = [lifecycle.noncurrent_due(rules, "k", 1, {}, T0, n, late, AWS_CLOCK) for n in range(4)]
    assert due == [False, False, True, True]
    assert not lifecycle.noncurrent_due(rules, "k", 1, {}, T0, 3, T0 + DAY_MS // 2, AWS_CLOCK)


def test_lone_markers_and_uploads_match_on_the_prefix_only() -> None:
    marker = Rule("m", True, prefix="a/", delete_marker=True)
    tagged = Rule("t", True, tags=(("k", "v"),), days=1)
    assert lifecycle.lone_marker_due([marker], "a/x", T0, T0, AWS_CLOCK)
    assert not lifecycle.lone_marker_due([marker, tagged], "b/x", T0, T0 + 9 * DAY_MS, AWS_CLOCK)
    days = Rule("d", True, days=2)
    assert not lifecycle.lone_marker_due([days], "x", T0, T0 + DAY_MS, AWS_CLOCK)
    assert lifecycle.lone_marker_due([days], "x", T0, T0 + 3 * DAY_MS, AWS_CLOCK)
    abort = Rule("u", True, prefix="up/", abort_days=1)
    assert lifecycle.upload_due([abort], "up/x", T0, T0 + 2 * DAY_MS, AWS_CLOCK)
    assert not lifecycle.upload_due([abort], "other", T0, T0 + 2 * DAY_MS, AWS_CLOCK)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (rule("<Prefix/><Expiration><Days>1.5</Days></Expiration>"), MalformedXML),
        (rule("<Prefix/><Expiration><Date>2026-02-30</Date></Expiration>"), MalformedXML),
        (rule("<Prefix/><Expiration><Date>2026-02-03T00:00:01Z</Date></Expiration>"), InvalidArgument),
        (rule("<Filter><ObjectSizeGreaterThan>9</ObjectSizeGreaterThan>"
              "<ObjectSizeLessThan>9</ObjectSizeLessThan></Filter>"
              "<Expiration><Days>1</Days></Expiration>"), InvalidArgument),
        (rule("<Prefix/><NoncurrentVersionExpiration><NewerNoncurrentVersions>101"
              "</NewerNoncurrentVersions></NoncurrentVersionExpiration>"), InvalidArgument),
    ],
)  # fmt: skip
def test_bad_values(body: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_lifecycle(doc(body))


# Any text XML can carry (no control characters), blanks included: " " is no "".
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12)
_days = st.integers(1, 10_000)


@st.composite
def stored_rules(draw: st.DrawFn) -> dict:
    form = draw(st.sampled_from(["legacy", "none", "empty", "prefix", "tag", "size", "and"]))
    r: dict = {"id": draw(st.text(st.characters(codec="ascii", min_codepoint=33), min_size=1, max_size=20)),
               "on": draw(st.booleans()), "f": form}  # fmt: skip
    if form in ("legacy", "prefix"):
        r["p"] = draw(_text)
    if form in ("tag", "and"):
        tags = draw(st.dictionaries(_text.filter(bool), _text, min_size=1, max_size=3))
        r["t"] = dict(list(tags.items())[:1]) if form == "tag" else tags
    if form == "and":
        r["p"] = draw(_text)
    if form in ("size", "and"):
        r["gt"] = draw(st.integers(0, 1000))
    action = draw(st.sampled_from(["ed", "edt", "em", "nd", "ad"]))
    objects_only = bool(r.get("t")) or "gt" in r
    if action in ("em", "ad") and objects_only:
        action = "ed"
    r[action] = {"ed": draw(_days), "edt": "2031-05-06T00:00:00.000Z", "em": True,
                 "nd": draw(_days), "ad": draw(_days)}[action]  # fmt: skip
    return r


@given(st.lists(stored_rules(), min_size=1, max_size=4, unique_by=lambda r: r["id"]))
def test_render_then_parse_gives_the_same_rules(rules: list[dict]) -> None:
    assert parse_lifecycle(render_lifecycle(rules)) == rules
