"""Charts as inline SVG text, drawn here in Python: the HTML report must open anywhere, offline, with no script,
no CDN and no network (and ``ic3`` must not import a plotting library to write it).

Two shapes are enough for the report: lines over days (a series per site) and horizontal bars (a value per name).
A missing value (None: the KPI is undefined that day) breaks a line rather than dropping it to 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f")
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1.0
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def line_chart(title: str, series: Mapping[str, Sequence[tuple[date, float | None]]], *, unit: str = "",
               width: int = 760, height: int = 300) -> str:
    """One line per series name, days on x; an empty chart says so instead of drawing axes over nothing."""
    points = [(day, value) for values in series.values() for day, value in values if value is not None]
    head = (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" style="{FONT}">'
            f'<title>{escape(title)}</title>'
            f'<text x="8" y="18" font-size="14" font-weight="600">{escape(title)}</text>')
    if not points:
        return head + (f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="13" fill="#666">'
                       'no data yet</text></svg>')
    left, right, top, bottom = 64, 170, 30, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    days = sorted({day for day, _ in points})
    first, last = days[0], days[-1]
    span = max((last - first).days, 1)
    low, high = min(v for _, v in points), max(v for _, v in points)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    low, high = low - pad, high + pad

    def x(day: date) -> float:
        return left + (day - first).days / span * plot_w

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * plot_h

    parts = [head]
    for tick in _ticks(low, high):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     'stroke="#e5e5e5"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11" fill="#444">'
                     f'{escape(_fmt(tick))}</text>')
    for day in sorted({first, last, *days[:: max(len(days) // 4, 1)]}):
        parts.append(f'<text x="{x(day):.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11" '
                     f'fill="#444">{day.isoformat()}</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" fill="#444" '
                 f'transform="rotate(-90 12 {top + plot_h / 2:.1f})" text-anchor="middle">{escape(unit)}</text>')
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for day, value in sorted(values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(day):.1f},{y(value):.1f}")
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(run)}"/>')
            elif run:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>')
        legend_y = top + 14 * index
        parts.append(f'<rect x="{left + plot_w + 12}" y="{legend_y}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{left + plot_w + 27}" y="{legend_y + 9}" font-size="11">{escape(name[:24])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float | None]], *, unit: str = "", maximum: float | None = None,
              width: int = 760, bar_height: int = 22) -> str:
    """A horizontal bar per name, its value written at its end; a None value is written 'n/a' with no bar."""
    height = 40 + bar_height * max(len(bars), 1)
    head = (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" style="{FONT}">'
            f'<title>{escape(title)}</title>'
            f'<text x="8" y="18" font-size="14" font-weight="600">{escape(title)}</text>')
    if not bars:
        return head + '<text x="8" y="44" font-size="13" fill="#666">no data yet</text></svg>'
    label_w, value_w = 220, 90
    plot_w = width - label_w - value_w
    known = [value for _, value in bars if value is not None]
    top_value = maximum if maximum is not None else max([*known, 0.0]) or 1.0
    parts = [head]
    for index, (name, value) in enumerate(bars):
        y = 30 + index * bar_height
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_height * 0.65:.1f}" text-anchor="end" font-size="12">'
                     f'{escape(name[:34])}</text>')
        if value is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + bar_height * 0.65:.1f}" font-size="12" fill="#666">'
                         'n/a</text>')
            continue
        length = max(value, 0.0) / top_value * plot_w if top_value > 0 else 0.0
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{bar_height - 6}" '
                     f'fill="{PALETTE[0]}"/>'
                     f'<text x="{label_w + length + 6:.1f}" y="{y + bar_height * 0.65:.1f}" font-size="12">'
                     f'{escape(_fmt(value))}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)
