"""How the status record writes intervals, meters and what remains (pure rules), and the
PDF's text for its standard fonts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from amss.kit.csvsafe import neutralise
from amss.reports.pdf import latin1
from amss.reports.rules import interval_words, number, remaining_words


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((Decimal(100), None, None, None), "100 h"),
        ((Decimal("50.5"), None, None, 4), "50.5 h / 4 months"),
        ((None, 2000, 120, None), "2,000 cyc / 120 days"),
        ((None, None, None, None), "-"),
    ],
)
def test_interval_words(args: tuple[object, ...], words: str) -> None:
    assert interval_words(*args) == words  # type: ignore[arg-type]


def test_numbers_read_as_a_logbook_writes_them() -> None:
    assert number(Decimal("4321.5")) == "4,321.5"
    assert number(Decimal("4321.0")) == "4,321"
    assert number(None) == ""


@pytest.mark.parametrize(
    ("left", "words"),
    [
        ((12.5, 30, 41.7), "12.5 h / 30 cyc / 41 d"),
        ((-0.5, None, None), "0.5 h over"),
        ((None, -12, -29.3), "12 cyc over / 29 d over"),
        ((None, None, None), ""),
    ],
)
def test_what_remains_never_starts_with_a_minus(
    left: tuple[float | None, int | None, float | None], words: str
) -> None:
    assert remaining_words(*left) == words
    assert neutralise(words) == words  # a spreadsheet shows it as written


def test_pdf_text_keeps_latin1_and_replaces_the_rest() -> None:
    assert latin1("Überprüfung — “ok” …") == 'Überprüfung - "ok" ...'
    assert latin1("Ĺ ø ✈") == "L ø ?"
