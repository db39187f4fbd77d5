"""Small inline SVG charts for the report page: hand-written, no plotting library, no
JavaScript. Every chart is an ``<svg role="img">`` with a ``<title>`` and a
``data-chart`` attribute naming its kind; text in it is escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

INK, MUTED, GRID = "#1f2933", "#616e7c", "#d9e2ec"
BAR, ACCENT, WARN = "#2f6fae", "#d9822b", "#c23030"
PALETTE = ("#2f6fae", "#d9822b", "#3f8f5b", "#8e5ba6", "#c23030", "#1f9aa6", "#a68b1f",
           "#616e7c")


def _svg(kind: str, width: float, height: float, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
            f'data-chart="{kind}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="system-ui, sans-serif" '
            f'font-size="12"><title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _text(x: float, y: float, s: str, *, anchor: str = "start", fill: str = INK,
          size: int = 12, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" '
            f'font-size="{size}" font-weight="{weight}">{escape(s)}</text>')


def _clip(s: str, n: int = 22) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


def bar_chart(rows: Sequence[tuple[str, float]], title: str,
              fmt: Callable[[float], str] = lambda v: f"{v:,.0f}", width: int = 560) -> str:
    """Horizontal bars, one per (label, value) row, values from 0."""
    left, right, step = 170, 80, 24
    height = 12 + step * len(rows)
    top = max([v for _, v in rows] + [1e-12])
    span = width - left - right
    body = []
    for i, (label, value) in enumerate(rows):
        y = 8 + i * step
        w = max(0.0, span * value / top)
        body.append(_text(left - 8, y + 14, _clip(label), anchor="end"))
        body.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{step - 8}" '
                    f'fill="{BAR}" rx="2"><title>{escape(label)}: {escape(fmt(value))}'
                    "</title></rect>")
        body.append(_text(left + w + 6, y + 14, fmt(value), fill=MUTED))
    return _svg("bars", width, height, title, body)


def interval_chart(rows: Sequence[tuple[str, float | None, float | None, float | None]],
                   title: str, low: float = 0.0, high: float = 1.0, width: int = 560,
                   marks: Sequence[float] = ()) -> str:
    """A dot per row at its estimate with a whisker from its low to its high bound, on a
    shared axis from ``low`` to ``high``; rows without an estimate show "undefined"."""
    left, right, step = 170, 24, 24
    height = 34 + step * len(rows)
    span = width - left - right

    def x(v: float) -> float:
        return left + span * (min(max(v, low), high) - low) / (high - low)

    body = []
    for k in range(6):
        t = round(low + (high - low) * k / 5, 6)
        body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="4" y2="{height - 24}" '
                    f'stroke="{GRID}" stroke-width="1"/>')
        body.append(_text(x(t), height - 8, f"{t:g}", anchor="middle", fill=MUTED, size=11))
    for t in marks:  # reference lines, named in the caption
        body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="4" y2="{height - 24}" '
                    f'stroke="{ACCENT}" stroke-dasharray="3 3" stroke-width="1"/>')
    for i, (label, est, lo, hi) in enumerate(rows):
        y = 8 + i * step + step / 2
        body.append(_text(left - 8, y + 4, _clip(label), anchor="end"))
        if est is None:
            body.append(_text(left + 4, y + 4, "undefined", fill=MUTED))
            continue
        if lo is not None and hi is not None:
            body.append(f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                        f'stroke="{BAR}" stroke-width="2"/>')
        body.append(f'<circle cx="{x(est):.1f}" cy="{y:.1f}" r="4.5" fill="{BAR}">'
                    f"<title>{escape(label)}: {est:.3f}"
                    + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")
                    + "</title></circle>")
    return _svg("intervals", width, height, title, body)


def reliability_diagram(bins: Sequence[dict], title: str, size: int = 220) -> str:
    """Accuracy against stated confidence per confidence bin (dots sized by answers), with
    the diagonal of perfect calibration."""
    pad = 38
    span = size - pad - 10

    def px(v: float) -> float:
        return pad + span * v

    def py(v: float) -> float:
        return 10 + span * (1 - v)

    body = [(f'<rect x="{pad}" y="10" width="{span}" height="{span}" fill="none" '
            f'stroke="{GRID}"/>'),
            (f'<line x1="{px(0):.1f}" y1="{py(0):.1f}" x2="{px(1):.1f}" y2="{py(1):.1f}" '
            f'stroke="{MUTED}" stroke-dasharray="4 3"/>')]
    for t in (0.0, 0.5, 1.0):
        body.append(_text(px(t), size - 10, f"{t:g}", anchor="middle", fill=MUTED, size=10))
        body.append(_text(pad - 4, py(t) + 4, f"{t:g}", anchor="end", fill=MUTED, size=10))
    total = sum(b["answers"] for b in bins) or 1
    pts = []
    for b in bins:
        cx, cy = px(b["confidence"]), py(b["accuracy"])
        r = 2.5 + 7.0 * (b["answers"] / total) ** 0.5
        pts.append((cx, cy))
        body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{BAR}" '
                    f'fill-opacity="0.75"><title>confidence {b["confidence"]:.2f}, accuracy '
                    f'{b["accuracy"]:.2f}, {b["answers"]} answers</title></circle>')
    if len(pts) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{BAR}" stroke-width="1.5"/>')
    body.append(_text(pad + span / 2, size, "stated confidence", anchor="middle",
                      fill=MUTED, size=10))
    body.append(f'<text x="10" y="{10 + span / 2:.1f}" fill="{MUTED}" font-size="10" '
                f'text-anchor="middle" transform="rotate(-90 10 {10 + span / 2:.1f})">'
                "accuracy</text>")
    return _svg("reliability", size, size + 4, title, body)


def confusion_matrix(labels: Sequence[str], matrix: Sequence[Sequence[int]],
                     title: str) -> str:
    """Counts of (gold row, decided column), shaded by the share of the gold row."""
    cell, left, top = 46, 130, 110
    n = len(labels)
    width, height = left + cell * n + 10, top + cell * n + 10
    body = [_text(left + cell * n / 2, 14, "decided", anchor="middle", fill=MUTED),
            (f'<text x="14" y="{top + cell * n / 2:.1f}" fill="{MUTED}" font-size="12" '
            f'text-anchor="middle" transform="rotate(-90 14 {top + cell * n / 2:.1f})">gold'
            "</text>")]
    for j, lab in enumerate(labels):
        cx = left + j * cell + cell / 2
        body.append(f'<text x="{cx:.1f}" y="{top - 8}" fill="{INK}" font-size="11" '
                    f'transform="rotate(-40 {cx:.1f} {top - 8})">{escape(_clip(lab, 16))}'
                    "</text>")
    for i, lab in enumerate(labels):
        y = top + i * cell
        body.append(_text(left - 8, y + cell / 2 + 4, _clip(lab, 16), anchor="end"))
        row_total = sum(matrix[i]) or 1
        for j in range(n):
            v = matrix[i][j]
            share = v / row_total
            color = BAR if i == j else WARN
            body.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" '
                        f'height="{cell - 2}" fill="{color}" fill-opacity="{0.08 + 0.85 * share:.2f}"'
                        f'><title>gold {escape(lab)}, decided {escape(labels[j])}: {v}'
                        "</title></rect>")
            body.append(_text(left + j * cell + cell / 2 - 1, y + cell / 2 + 4, f"{v:,}",
                              anchor="middle", fill="#ffffff" if share > 0.55 else INK))
    return _svg("confusion", width, height, title, body)


def share_bar(rows: Sequence[tuple[str, float]], title: str, width: int = 560) -> str:
    """One horizontal bar split into the rows' shares (summing to 1), with a legend."""
    left, bar_h = 10, 26
    span = width - 2 * left
    legend_rows = (len(rows) + 2) // 3
    height = 14 + bar_h + 10 + 20 * legend_rows
    body, x = [], float(left)
    for k, (label, share) in enumerate(rows):
        w = span * share
        color = PALETTE[k % len(PALETTE)]
        body.append(f'<rect x="{x:.1f}" y="10" width="{max(w, 0):.1f}" height="{bar_h}" '
                    f'fill="{color}"><title>{escape(label)}: {100 * share:.1f} %</title></rect>')
        lx, ly = left + (k % 3) * (span / 3), 10 + bar_h + 22 + 20 * (k // 3)
        body.append(f'<rect x="{lx:.1f}" y="{ly - 10:.1f}" width="10" height="10" '
                    f'fill="{color}"/>')
        body.append(_text(lx + 14, ly, f"{_clip(label, 18)} {100 * share:.1f} %", size=11))
        x += w
    return _svg("shares", width, height, title, body)
