"""Inline SVG bar sparklines: no JavaScript, no chart library, readable at a glance and by screen readers.

Each bar is one time bucket; empty buckets draw a hairline so "quiet" and "missing" look different. The SVG carries
a `<title>` with the total and the peak so the numbers are never more than a hover away (Bugsink's sparkline shows
none).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def bars(
    counts: Sequence[int],
    *,
    label: str,
    width: int = 120,
    height: int = 24,
    gap: float = 1.0,
    css_class: str = "spark",
) -> Markup:
    n = max(len(counts), 1)
    peak = max(counts, default=0)
    total = sum(counts)
    slot = width / n
    bar_width = max(slot - gap, 1.0)
    parts: list[str] = []
    for index, count in enumerate(counts):
        x = index * slot
        if count <= 0:
            parts.append(f'<rect class="z" x="{x:.2f}" y="{height - 1}" width="{bar_width:.2f}" height="1"/>')
            continue
        bar_height = max(2.0, (count / peak) * (height - 1)) if peak else 0.0
        parts.append(
            f'<rect x="{x:.2f}" y="{height - bar_height:.2f}" width="{bar_width:.2f}" height="{bar_height:.2f}">'
            f"<title>{count}</title></rect>"
        )
    title = f"{label}: {total} event{'s' if total != 1 else ''}, peak {peak}"
    return Markup(
        f'<svg class="{escape(css_class)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" preserveAspectRatio="none"><title>{escape(title)}</title>'
        + "".join(parts)
        + "</svg>"
    )
