"""Text rendering of a palette for 'maskcli palettes show'."""

from __future__ import annotations

from maskcli.palette import Palette, format_color


def _hex(color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def format_palette(palette: Palette) -> str:
    shared = palette.shared_colors()
    width = max(4, *(len(c.name) for c in palette.classes))
    lines = [f"{palette.name}: {len(palette.classes)} classes, {palette.bits}-bit index masks"]
    if palette.description:
        lines.append(palette.description)
    if palette.source:
        lines.append(f"source: {palette.source}")
    lines.append("")
    lines.append(f"{'id':>5}  {'name':<{width}}  {'color':<15}  hex")
    for c in palette.classes:
        mark = " *" if c.color in shared else ""
        lines.append(
            f"{c.id:>5}  {c.name:<{width}}  {format_color(c.color):<15}  {_hex(c.color)}{mark}"
        )
        for extra in c.also:
            lines.append(f"{'':>5}  {'  also':<{width}}  {format_color(extra):<15}  {_hex(extra)}")
    lines.append("")
    ignore = ", ".join(f"{format_color(c)} {_hex(c)}" for c in palette.ignore_colors) or "none"
    lines.append(f"ignore index {palette.ignore_index}; to-rgb writes {format_color(palette.ignore_color)}")
    lines.append(f"ignore colors: {ignore}")
    if shared:
        lines.append("* shared color: to-index decodes it to the first class listed")
    return "\n".join(lines)
