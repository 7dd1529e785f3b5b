"""Import files as tables (SPEC §8): the columns of each type, reading CSV and XLSX, headers.

Pure: bytes in, rows out. Everything refused here is refused before anything is stored.
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal, TypeVar

from amss.kit.errors import FieldProblem, UnsupportedMediaType, invalid

ImportType = Literal["aircraft", "parts", "programs", "compliance", "utilization"]
Format = Literal["csv", "xlsx"]
IMPORT_TYPES: tuple[ImportType, ...] = (
    "aircraft",
    "parts",
    "programs",
    "compliance",
    "utilization",
)

# Every column of each type, in the order docs/imports.md lists them; REQUIRED must be in
# the header (a required column may still be empty in a row: that row is then invalid).
COLUMNS: dict[str, tuple[str, ...]] = {
    "aircraft": (
        "tail_number",
        "model",
        "serial_number",
        "status",
        "capacity_slots",
        "flight_hours_total",
        "cycles_total",
        "avg_daily_hours",
        "avg_daily_cycles",
    ),
    "parts": (
        "part_name",
        "part_number",
        "category",
        "min_stock",
        "serial_number",
        "status",
        "expiry_date",
        "location",
    ),
    "programs": (
        "name",
        "aircraft_model",
        "tail_number",
        "interval_hours",
        "interval_cycles",
        "interval_days",
        "interval_months",
        "tolerance_hours",
        "tolerance_cycles",
        "tolerance_days",
        "task_type",
        "ata_chapter",
        "estimated_duration_hours",
        "next_due_basis",
        "mandatory",
    ),
    "compliance": (
        "tail_number",
        "program",
        "performed_at",
        "performed_hours",
        "performed_cycles",
        "reference",
        "certified_by_name",
        "certificate_number",
    ),
    "utilization": ("tail_number", "flight_date", "flight_hours", "cycles", "external_id"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "aircraft": ("tail_number", "model"),
    "parts": ("part_name", "serial_number"),
    "programs": ("name",),
    "compliance": ("tail_number", "program", "performed_at", "reference"),
    "utilization": ("tail_number", "flight_date", "flight_hours", "cycles", "external_id"),
}

XLSX_MAGIC = b"PK\x03\x04"
T = TypeVar("T")


def check_type(value: str) -> ImportType:
    for known in IMPORT_TYPES:
        if value == known:
            return known
    raise invalid("type", f"{value!r} is not one of {', '.join(IMPORT_TYPES)}")


def format_of(filename: str | None, content: bytes) -> Format:
    """XLSX by its zip signature (whatever the name says), else CSV."""
    return "xlsx" if content.startswith(XLSX_MAGIC) else "csv"


@dataclass(frozen=True)
class Sheet:
    """A file read as a table: the header as written, and the data rows as strings (an
    iterator: read once)."""

    header: list[str]
    rows: Iterator[list[str]]

    @property
    def columns(self) -> list[str]:
        """The header as AMSS reads it: trimmed, case-insensitive."""
        return [name.strip().lower() for name in self.header]


def _unsupported(message: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"file: {message}", details=[FieldProblem("file", message)])


def _text_of(content: bytes) -> str:
    if b"\x00" in content:
        raise _unsupported("binary content; send a CSV (UTF-8 text) or an XLSX workbook")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _unsupported(
            f"not UTF-8 text (byte 0x{content[error.start]:02x} at offset {error.start}); "
            "save the spreadsheet as CSV UTF-8"
        ) from None


def _filled(row: Sequence[str]) -> bool:
    return any(row) and any(cell.strip() for cell in row)


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    text = _text_of(content)  # the whole file: a non-UTF-8 byte anywhere is refused now
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            if _filled(row):
                yield row
    except csv.Error as error:
        raise invalid(
            "file", f"not a readable CSV file at line {reader.line_num} ({error})"
        ) from None


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV would hold: dates as YYYY-MM-DD, whole numbers
    without a trailing .0."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return str(Decimal(repr(value)))
    return str(value)


def _xlsx_rows(content: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # only XLSX uploads pay for importing it

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise _unsupported(f"not a readable XLSX workbook ({error})") from None
    try:
        if not book.worksheets:
            raise invalid("file", "the workbook has no sheet")
        for values in book.worksheets[0].iter_rows(values_only=True):
            row = [cell_text(value) for value in values]
            if _filled(row):
                yield row
    finally:
        book.close()


def read_sheet(content: bytes, file_format: Format) -> Sheet:
    """The table in the file, its data rows read as they are iterated (blank rows left
    out), so a large file is never held as rows all at once; 4xx for what cannot be read
    as a table, or holds no data row."""
    if not content:
        raise invalid("file", "the file is empty")
    rows = _xlsx_rows(content) if file_format == "xlsx" else _csv_rows(content)
    header = next(rows, None)
    if header is None:
        raise invalid("file", "the file is empty")
    while header and not header[-1].strip():
        header = header[:-1]
    first = next(rows, None)
    if first is None:
        raise invalid("file", "the file has a header but no data rows")
    return Sheet(header=header, rows=itertools.chain([first], rows))


@dataclass(frozen=True)
class Layout:
    """Which position of the header holds which known column, and what is ignored."""

    positions: dict[str, int]
    ignored: list[str]


def layout(import_type: str, sheet: Sheet) -> Layout:
    """Match the header with the type's columns: 400 for a required column missing or a
    column given twice; unknown columns are ignored and reported."""
    known = COLUMNS[import_type]
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(sheet.columns):
        if name in known:
            if name in positions:
                raise invalid("file", f"column {name!r} appears twice in the header")
            positions[name] = index
        elif name:
            ignored.append(sheet.header[index].strip())
    missing = [name for name in REQUIRED[import_type] if name not in positions]
    if missing:
        raise invalid(
            "file",
            f"the header lacks required column(s) {', '.join(missing)} for a {import_type} "
            f"import (it has: {', '.join(sheet.columns) or 'nothing'})",
        )
    return Layout(positions=positions, ignored=ignored)


def records(sheet: Sheet, shape: Layout) -> Iterator[tuple[int, dict[str, str], dict[str, str]]]:
    """``(row_number, raw, values)`` per data row: the row as written (every column of the
    header) and the known columns, trimmed, empty cells left out. Row 1 is the first row
    under the header."""
    header = [name.strip() or f"column {index + 1}" for index, name in enumerate(sheet.header)]
    width = len(header)
    positions = list(shape.positions.items())
    for number, row in enumerate(sheet.rows, start=1):
        raw = dict(zip(header, row, strict=False))
        if len(row) > width:
            raw.update({f"column {i + 1}": row[i] for i in range(width, len(row))})
        values = {}
        for name, index in positions:
            if index < len(row):
                cell = row[index].strip()
                if cell:
                    values[name] = cell
        yield number, raw, values


def duplicates(
    keys: Sequence[tuple[int, Any]], first: dict[Any, int] | None = None
) -> dict[int, int]:
    """Rows whose key an earlier row of the file already has: ``{row: first row}``.
    ``keys`` are ``(row_number, key)`` in file order; a None key is never a duplicate.
    ``first`` carries the keys seen in earlier chunks of the file (and is updated)."""
    first = {} if first is None else first
    repeated: dict[int, int] = {}
    for number, key in keys:
        if key is None:
            continue
        if key in first:
            repeated[number] = first[key]
        else:
            first[key] = number
    return repeated


def chunks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    while chunk := list(itertools.islice(items, size)):
        yield chunk
