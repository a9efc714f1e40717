"""How replies are printed: raw JSON for scripts (`--json`), tables and `key: value` lines for people.

Plain aligned text rather than box-drawing tables keeps the output usable
with grep, cut and awk even without `--json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the raw JSON reply of the API.")]

Cell = Callable[[Mapping[str, Any]], Any]
Column = tuple[str, str | Cell]


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def print_json(data: Any) -> None:
    """The reply as it came; nothing at all for an empty (204) reply."""
    if data is not None:
        typer.echo(to_json(data))


def show_value(value: Any) -> str:
    """One value as a person reads it: yes/no, `-` for nothing, compact JSON for structures."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(show_value(item) for item in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else "-"
    return str(value)


def _cell(row: Mapping[str, Any], source: str | Cell) -> str:
    value = row.get(source) if isinstance(source, str) else source(row)
    return show_value(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[str]:
    """Left-aligned columns under an upper-case header; the last column is not padded."""
    grid = [[header.upper() for header, _ in columns]]
    grid += [[_cell(row, source) for _, source in columns] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    return ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() for line in grid]


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, empty: str) -> None:
    if not rows:
        typer.echo(empty)
        return
    for line in format_table(rows, columns):
        typer.echo(line)


def format_fields(record: Mapping[str, Any], fields: Sequence[tuple[str, str | Cell]]) -> list[str]:
    width = max(len(label) for label, _ in fields) + 1
    return [f"{label + ':':<{width}} {_cell(record, source)}" for label, source in fields]


def print_fields(record: Mapping[str, Any], fields: Sequence[tuple[str, str | Cell]]) -> None:
    for line in format_fields(record, fields):
        typer.echo(line)


def emit(data: Any, *, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print a reply either raw or through the command's own renderer."""
    if as_json:
        print_json(data)
    else:
        render(data)


def done(message: str, *, as_json: bool, reply: Any = None) -> None:
    """Confirm a change that returns nothing worth showing (or the raw reply with --json)."""
    if as_json:
        print_json(reply)
    else:
        typer.echo(message)
