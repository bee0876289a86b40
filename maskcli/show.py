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


def swatch(color) -> str:
    """Two spaces on the color's background (24-bit ANSI), for terminals."""
    return "\x1b[48;2;{};{};{}m  \x1b[0m ".format(*color)


def format_palette_colored(palette: Palette) -> str:
    """format_palette with a color swatch before each class row."""
    lines = format_palette(palette).split("\n")
    rows = {c.id: c.color for c in palette.classes}
    out = []
    for line in lines:
        head = line[:5].strip()
        if head.isdigit() and int(head) in rows:
            out.append(swatch(rows[int(head)]) + line)
        else:
            out.append("   " + line if line and not line.startswith(palette.name) else line)
    return "\n".join(out)


def text_color(color) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``color`` (WCAG relative luminance)."""

    def channel(v):
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in color)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (0, 0, 0) if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else (255, 255, 255)


def legend_png(palette: Palette) -> bytes:
    """A legend image: one row per class (and the ignore entry), filled with the class color,
    with its id and name in black or white, whichever reads better on it."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=16)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has only the small bitmap font
        font = ImageFont.load_default()
    shared = palette.shared_colors()
    rows = [(str(c.id), c.name + (" *" if c.color in shared else ""), c.color) for c in palette.classes]
    rows.append((str(palette.ignore_index), "ignore", palette.ignore_color))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max(measure.textlength(f"{i:>5}  {n}", font=font) for i, n, _ in rows)
    row_h, pad = 24, 8
    width = int(text_w) + 2 * pad + 8
    img = Image.new("RGB", (width, row_h * len(rows) + 2 * pad), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for k, (cid, name, color) in enumerate(rows):
        top = pad + k * row_h
        draw.rectangle([pad, top, width - pad, top + row_h - 2], fill=tuple(color))
        draw.text((pad + 6, top + 3), f"{cid:>5}  {name}", fill=text_color(color), font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
