"""The `cairn` command's own surface: --version, and every (sub)command's --help shows
each option with a text that states its default (issue 18: "options without defaults or
units in --help", "key list/key delete without help")."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import pytest

from cairn.cli import build_parser


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every parser with its command words and the help its parent gave it."""
    for action in parser._actions:  # argparse keeps subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(build_parser()))


def test_version_prints_the_installed_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"cairn {version('cairn')}"


@pytest.mark.parametrize("words", [w for w, _, _ in COMMANDS], ids=" ".join)
def test_every_subcommand_has_help(words: tuple[str, ...]) -> None:
    helps = {w: h for w, _, h in COMMANDS}
    assert helps[words], f"`cairn {' '.join(words)}` has no help line in its parent's list"


@pytest.mark.parametrize("words", [w for w, _, _ in COMMANDS], ids=" ".join)
def test_every_option_is_explained_and_defaults_are_shown(words: tuple[str, ...]) -> None:
    parser = {w: p for w, p, _ in COMMANDS}[words]
    shown = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        name = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help, f"cairn {' '.join(words)} {name}: no help text"
        has_value = action.default not in (None, False, argparse.SUPPRESS)
        if has_value and action.option_strings:
            assert "default" in parser._get_formatter()._expand_help(action) or (
                "default" in (action.help or "")
            ), f"cairn {' '.join(words)} {name}: default {action.default!r} not shown"
    assert "usage: cairn" in shown


def test_help_shows_the_default_of_an_option_that_did_not_say_it() -> None:
    serve = {w: p for w, p, _ in COMMANDS}[("serve",)]
    text = " ".join(serve.format_help().split())
    assert "S3 port (default: 9000)" in text
    assert "address to listen on (default: 127.0.0.1)" in text
    # An option whose help states its default is not given a second one.
    assert text.count("(default 64GiB)") == 1 and "68719476736" not in text
