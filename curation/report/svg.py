"""Charts as inline SVG, so a report is one self-contained HTML file that needs no network and no
plotting library. Each chart is a <figure data-plot="NAME"> holding an <svg>; with no data it says
so in words rather than drawing an empty frame.

    horizontal_bars("rejects", "Rejected by reason", ["empty_text", ...], [9, ...])
    vertical_bars("scores", "Quality score", ["0.0", "0.05", ...], [120, ...])
    stacked_bars("mixture", "Domain mix per phase", ["0-0.9", "0.9-1"], {"code": [0.2, 0.4], ...})
    lines("curves", "Held-out bits per byte", {"random": [(tokens, bits), ...], ...}, "tokens")
"""

from __future__ import annotations

from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
WIDTH = 720


def _figure(name: str, title: str, body: str, note: str = "") -> str:
    caption = f"<figcaption>{escape(title)}</figcaption>"
    extra = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<figure class="plot" data-plot="{escape(name)}">{caption}{body}{extra}</figure>'


def _empty(name: str, title: str, why: str) -> str:
    return _figure(name, title, f'<p class="empty">{escape(why)}</p>')


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"


def horizontal_bars(name: str, title: str, labels: list[str], values: list[float], note: str = "",
                    empty: str = "nothing to show", line: list[float] | None = None) -> str:
    """One bar per label; ``line``, if given, is a second series drawn as a line through the rows
    (the funnel's documents passing every stage so far)."""
    if not labels:
        return _empty(name, title, empty)
    row, left = 22, 300
    height = row * len(labels) + 10
    top = max([*values, *(line or [])]) or 1
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        width = max(1.0, (WIDTH - left - 90) * value / top)
        y = 5 + i * row
        bars.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(str(label)[:46])}</text>'
                    f'<rect x="{left}" y="{y + 3}" width="{width:.1f}" height="{row - 6}" fill="{PALETTE[0]}">'
                    f"<title>{escape(str(label))}: {_number(value)}</title></rect>"
                    f'<text x="{left + width + 5:.1f}" y="{y + 15}">{_number(value)}</text>')
    if line:
        points = [(left + (WIDTH - left - 90) * value / top, 5 + i * row + row / 2) for i, value in enumerate(line)]
        bars.append(f'<polyline fill="none" stroke="{PALETTE[1]}" stroke-width="2" '
                    f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}"/>')
        bars += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[1]}"><title>{_number(value)}</title></circle>'
                 for (x, y), value in zip(points, line, strict=True)]
    svg = f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">{"".join(bars)}</svg>'
    return _figure(name, title, svg, note)


def vertical_bars(name: str, title: str, labels: list[str], values: list[float], note: str = "",
                  empty: str = "nothing to show") -> str:
    if not labels:
        return _empty(name, title, empty)
    height, bottom, left = 220, 30, 50
    top = max(values) or 1
    step = (WIDTH - left - 10) / len(labels)
    bars = [f'<line x1="{left}" y1="{height - bottom}" x2="{WIDTH - 10}" y2="{height - bottom}" stroke="#888"/>',
            f'<text x="{left - 5}" y="15" text-anchor="end">{_number(top)}</text>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar = max(1.0, (height - bottom - 20) * value / top) if value else 0.0
        x = left + i * step
        bars.append(f'<rect x="{x + 1:.1f}" y="{height - bottom - bar:.1f}" width="{max(1.0, step - 2):.1f}" '
                    f'height="{bar:.1f}" fill="{PALETTE[0]}"><title>{escape(str(label))}: {_number(value)}</title></rect>')
        if i % max(1, len(labels) // 10) == 0:
            bars.append(f'<text x="{x + step / 2:.1f}" y="{height - 10}" text-anchor="middle">{escape(str(label))}</text>')
    svg = f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">{"".join(bars)}</svg>'
    return _figure(name, title, svg, note)


def stacked_bars(name: str, title: str, groups: list[str], series: dict[str, list[float]], note: str = "",
                 empty: str = "nothing to show") -> str:
    """One horizontal bar per group, split into each series' share of the group's total."""
    if not groups or not series:
        return _empty(name, title, empty)
    row, left = 34, 120
    height = row * len(groups) + 30 + 20 * ((len(series) + 3) // 4)
    parts = []
    for g, group in enumerate(groups):
        total = sum(values[g] for values in series.values()) or 1
        x, y = float(left), 5 + g * row
        parts.append(f'<text x="{left - 6}" y="{y + 20}" text-anchor="end">{escape(str(group))}</text>')
        for s, (label, values) in enumerate(series.items()):
            width = (WIDTH - left - 20) * values[g] / total
            if width > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="{row - 8}" '
                             f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(label)}: {values[g] / total:.3f}</title></rect>')
            x += width
    parts += _legend(list(series), left, 15 + len(groups) * row)
    svg = f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">{"".join(parts)}</svg>'
    return _figure(name, title, svg, note)


def lines(name: str, title: str, series: dict[str, list[tuple[float, float]]], x_label: str, note: str = "",
          empty: str = "nothing to show") -> str:
    """A line per series through its (x, y) points, on shared axes that span the data."""
    points = [point for values in series.values() for point in values]
    if not points:
        return _empty(name, title, empty)
    height, bottom, left, right = 240, 40, 60, 20
    x_low, x_high = min(x for x, _ in points), max(x for x, _ in points)
    y_low, y_high = min(y for _, y in points), max(y for _, y in points)
    x_span, y_span = (x_high - x_low) or 1, (y_high - y_low) or 1

    def place(x: float, y: float) -> tuple[float, float]:
        return (left + (WIDTH - left - right) * (x - x_low) / x_span,
                10 + (height - bottom - 10) * (y_high - y) / y_span)

    parts = [f'<line x1="{left}" y1="{height - bottom}" x2="{WIDTH - right}" y2="{height - bottom}" stroke="#888"/>',
             f'<line x1="{left}" y1="10" x2="{left}" y2="{height - bottom}" stroke="#888"/>',
             f'<text x="{left - 5}" y="15" text-anchor="end">{y_high:.3g}</text>',
             f'<text x="{left - 5}" y="{height - bottom}" text-anchor="end">{y_low:.3g}</text>',
             f'<text x="{left}" y="{height - bottom + 15}">{_number(x_low)}</text>',
             f'<text x="{WIDTH - right}" y="{height - bottom + 15}" text-anchor="end">{_number(x_high)} {escape(x_label)}</text>']
    for s, (label, values) in enumerate(series.items()):
        color = PALETTE[s % len(PALETTE)]
        placed = [place(x, y) for x, y in sorted(values)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                     f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in placed)}"/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"><title>{escape(label)}: {y:.4g} at '
                  f'{_number(x)}</title></circle>' for (px, py), (x, y) in zip(placed, sorted(values), strict=True)]
    parts += _legend(list(series), left, height - 15)
    total = height + 20 * ((len(series) + 3) // 4)
    svg = f'<svg width="{WIDTH}" height="{total}" viewBox="0 0 {WIDTH} {total}" role="img">{"".join(parts)}</svg>'
    return _figure(name, title, svg, note)


def _legend(labels: list[str], left: float, top: float) -> list[str]:
    """Four to a row: each label beside its series' colour."""
    parts = []
    for s, label in enumerate(labels):
        x, y = left + (s % 4) * 150, top + (s // 4) * 20
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>'
                     f'<text x="{x + 16}" y="{y + 11}">{escape(label)}</text>')
    return parts
