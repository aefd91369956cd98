"""How `cairn admin` shows things to people: rich tables with headers, sizes in binary
units, and one clear line for an empty list (scripts use `--json` instead)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def console() -> Console:
    """A console on stdout; never wrapped narrower than a useful table when piped."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[object]], empty: str) -> None:
    """A table with a header row, or `empty` (e.g. "no buckets") when there are no rows."""
    if not rows:
        print(empty)
        return
    table = Table(*columns, box=None, header_style="bold", pad_edge=False)
    for row in rows:
        table.add_row(*("-" if cell is None or cell == "" else str(cell) for cell in row))
    console().print(table)


def human_bytes(n: int | float) -> str:
    """1536 -> '1.5 KiB': the same binary units everywhere the CLI prints a size."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
