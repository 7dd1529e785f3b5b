"""CSV cells a spreadsheet will not run as formulas (CSV injection), for every export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets; a leading single quote makes it text (OWASP's advice), shown as written.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """The cell as text a spreadsheet shows rather than runs; non-strings are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_lines(rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text (RFC 4180 quoting), every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([neutralise(value) for value in row])
    return buffer.getvalue()
