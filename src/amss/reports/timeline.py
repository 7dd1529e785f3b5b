"""The due timeline as SVG, drawn server-side (string building, every text escaped): a row per
aircraft, a mark per open task at its projected date coloured by due status, a today line
and a legend — the picture a planner pins on the wall."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from amss.due.schemas import DueListItem

COLOURS = {
    "overdue": "#c62828",
    "due": "#ef6c00",
    "due_soon": "#f9a825",
    "ok": "#2e7d32",
}
LABELS = {"overdue": "overdue", "due": "due (within tolerance)", "due_soon": "due soon", "ok": "ok"}

WIDTH = 1200
LABEL_W = 130  # tail numbers
NOW_GUTTER = 46  # marks whose projected date has passed: due now
LATER_GUTTER = 70  # due by a meter with no forecast, or projected past the horizon
TOP = 78
ROW_H = 28
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"


def _tick_step(days: int) -> int:
    for step in (1, 7, 14, 30, 60, 90, 180, 365):
        if days / step <= 14:
            return step
    return 730


def draw(items: Sequence[DueListItem], *, now: datetime, days: int, shown: int, total: int) -> str:
    """The SVG document of ``items`` (a due list over ``days``) as of ``now``."""
    plot_left = LABEL_W + NOW_GUTTER
    plot_right = WIDTH - LATER_GUTTER - 10
    span = plot_right - plot_left
    end = now + timedelta(days=days)

    def x_of(moment: datetime) -> float:
        return plot_left + span * (moment - now).total_seconds() / (days * 86400)

    rows: dict[str, list[DueListItem]] = defaultdict(list)
    for item in items:
        rows[item.tail_number].append(item)
    tails = sorted(rows)
    height = TOP + max(len(tails), 1) * ROW_H + 70
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' {FONT} font-size='12'>",
        "<title>Due timeline</title>",
        f"<rect width='{WIDTH}' height='{height}' fill='#ffffff'/>",
        f"<text x='10' y='24' font-size='18' font-weight='bold'>Due timeline: {days} days "
        f"from {now:%Y-%m-%d}</text>",
        f"<text x='10' y='42' fill='#555555'>{len(items)} open tasks on {len(tails)} aircraft; "
        f"generated {now:%Y-%m-%d %H:%M} UTC</text>",
    ]
    if total > shown:
        out.append(
            f"<text x='{WIDTH - 10}' y='42' text-anchor='end' fill='#c62828'>the {total - shown} "
            "least urgent tasks are not drawn: narrow the horizon or the aircraft</text>"
        )
    bottom = TOP + max(len(tails), 1) * ROW_H
    # Stripes and tail numbers.
    for index, tail in enumerate(tails):
        y = TOP + index * ROW_H
        if index % 2 == 0:
            out.append(f"<rect x='0' y='{y}' width='{WIDTH}' height='{ROW_H}' fill='#f3f5f8'/>")
        out.append(
            f"<text class='tail' x='10' y='{y + ROW_H / 2 + 4:.1f}' font-weight='bold'>"
            f"{escape(tail)}</text>"
        )
    # Gutters and the time axis.
    out.append(
        f"<text x='{LABEL_W + NOW_GUTTER / 2:.1f}' y='{TOP - 8}' text-anchor='middle' "
        "fill='#555555' font-size='10'>due now</text>"
    )
    out.append(
        f"<text x='{plot_right + 10 + LATER_GUTTER / 2:.1f}' y='{TOP - 8}' text-anchor='middle' "
        "fill='#555555' font-size='10'>later / no rate</text>"
    )
    step = _tick_step(days)
    tick = 0
    while tick <= days:
        x = x_of(now + timedelta(days=tick))
        label = f"{now + timedelta(days=tick):%d %b}"
        out.append(
            f"<line x1='{x:.1f}' y1='{TOP - 4}' x2='{x:.1f}' y2='{bottom}' stroke='#d5dae1'/>"
        )
        if tick > 0:  # today's date is under the today line
            out.append(
                f"<text x='{x:.1f}' y='{TOP - 8}' text-anchor='middle' font-size='10' "
                f"fill='#555555'>{label}</text>"
            )
        tick += step
    out.append(
        f"<line x1='{plot_right + 10}' y1='{TOP - 4}' x2='{plot_right + 10}' y2='{bottom}' "
        "stroke='#9aa3ae' stroke-dasharray='2 3'/>"
    )
    # The marks: a task due already sits in the "now" gutter, one without a forecast (or
    # projected past the horizon) in the right one; marks on the same spot stack.
    taken: dict[tuple[int, int], int] = defaultdict(int)
    for index, tail in enumerate(tails):
        centre = TOP + index * ROW_H + ROW_H / 2
        for item in rows[tail]:
            projected = item.projected_due_at
            if projected is None or projected > end:
                x = plot_right + 10 + LATER_GUTTER / 2
            elif projected <= now:
                x = LABEL_W + NOW_GUTTER / 2
            else:
                x = x_of(projected)
            slot = taken[(index, round(x / 6))]
            taken[(index, round(x / 6))] += 1
            x += 7 * (slot // 3)
            mark_y = centre + (0, -7, 7)[slot % 3]
            status: str = item.due_status or "ok"
            when = f"{projected:%Y-%m-%d}" if projected is not None else "no forecast"
            tip = f"{tail}: {item.title} - {LABELS.get(status, status)}, projected {when}"
            out.append(
                f"<circle class='mark' cx='{x:.1f}' cy='{mark_y:.1f}' r='5.5' "
                f"fill='{COLOURS.get(status, '#607d8b')}' stroke='#ffffff' stroke-width='1' "
                f"data-task-id={quoteattr(str(item.task_id))} data-status={quoteattr(status)} "
                f"data-aircraft={quoteattr(tail)}><title>{escape(tip)}</title></circle>"
            )
    # Today.
    today_x = x_of(now)
    out.append(
        f"<line class='today' x1='{today_x:.1f}' y1='{TOP - 4}' x2='{today_x:.1f}' "
        f"y2='{bottom + 6}' stroke='#1565c0' stroke-width='2'/>"
        f"<text x='{today_x:.1f}' y='{bottom + 18}' text-anchor='middle' fill='#1565c0' "
        f"font-size='11' font-weight='bold'>today {now:%d %b}</text>"
    )
    if not tails:
        out.append(
            f"<text x='{WIDTH / 2}' y='{TOP + ROW_H / 2 + 4}' text-anchor='middle' "
            "fill='#555555'>no open task in the horizon</text>"
        )
    # The legend.
    legend_y = bottom + 42
    out.append(f"<g class='legend' transform='translate(10,{legend_y})'>")
    out.append("<text x='0' y='4' font-weight='bold'>Due status</text>")
    legend_x = 100
    for status, colour in COLOURS.items():
        out.append(
            f"<circle cx='{legend_x}' cy='0' r='5.5' fill='{colour}'/>"
            f"<text x='{legend_x + 10}' y='4'>{escape(LABELS[status])}</text>"
        )
        legend_x += 40 + 7 * len(LABELS[status])
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)
