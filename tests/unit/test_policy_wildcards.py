"""AWS wildcard matching (Action, Resource, StringLike, ArnLike parts) against a reference.

IAM: "You can use wildcards (* and ?) ... * matches any combination of characters, ? matches
any single character". Nothing else is special: not '[', not '\\', not regex syntax. The
reference below is the textbook dynamic-programming matcher, independent of regexes.
"""

from __future__ import annotations

from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from gateway.authz.policy import compile_wildcards, wildcard_match


def reference_match(pattern: str, text: str) -> bool:
    @cache
    def at(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        if pattern[i] == "*":
            return at(i + 1, j) or (j < len(text) and at(i, j + 1))
        if j < len(text) and (pattern[i] == "?" or pattern[i] == text[j]):
            return at(i + 1, j + 1)
        return False

    return at(0, 0)


ALPHABET = "ab/*?.[]\\^$()|+{}\n"
patterns = st.text(alphabet=ALPHABET, max_size=10)
texts = st.text(alphabet=ALPHABET, max_size=12)


@given(patterns, texts)
def test_matches_like_the_reference(pattern: str, text: str):
    assert wildcard_match(pattern, text) is reference_match(pattern, text)


@given(st.lists(patterns, min_size=1, max_size=4), texts)
def test_alternation_is_any_of_the_patterns(pattern_list: list[str], text: str):
    combined = compile_wildcards(pattern_list).fullmatch(text) is not None
    assert combined is any(reference_match(p, text) for p in pattern_list)


@given(patterns, texts)
def test_ignore_case_is_matching_the_casefolded_text(pattern: str, text: str):
    upper = text.upper()
    assert wildcard_match(pattern, upper, ignore_case=True) is reference_match(
        pattern.lower(), upper.lower()
    )


def test_a_pattern_matches_itself_literally_and_star_everything():
    for text in ["a[b]c", "x.y", "(a|b)", "back\\slash", "new\nline"]:
        assert wildcard_match(text, text)
        assert wildcard_match("*", text)
    assert not wildcard_match("a.c", "abc")
    assert not wildcard_match("", "a")
