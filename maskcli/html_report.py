"""The HTML report of `maskcli check --html`: one self-contained file.

Pure: the run's data (the JSON report's dict), the class rows and PNG bytes in, HTML text out.
No scripts, no fonts, no links to anything outside the file: images are data: URIs and the CSS
is inline, so it opens offline, with JavaScript disabled, in any browser. The layout is one
column that reflows from a phone to a wide screen.
"""

from __future__ import annotations

import base64
from html import escape

MAX_PROBLEMS = 100  # files with problems listed with thumbnails; the rest are counted
MAX_COLORS = 12  # unknown colors shown per file
THUMB_SIZE = 256  # px, problem thumbnails
SAMPLE_SIZE = 16  # files in the sample contact sheet
SAMPLE_THUMB = 256

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1b1b1b;background:#f6f6f4}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0 .1em}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid #ccc;padding-bottom:.2em}
.sub{color:#555;margin:0 0 1em;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:10px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 12px}
.card b{display:block;font-size:1.6em;line-height:1.1}.card.bad b{color:#b00020}.card.good b{color:#1b6e20}
.card.warn b{color:#8a5a00}
ul.notes{padding-left:1.2em}ul.notes li{overflow-wrap:anywhere}
.scroll{overflow-x:auto;background:#fff;border:1px solid #ddd;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{padding:4px 8px;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}
th{background:#f0f0ee;position:sticky;top:0}td.l,th.l{text-align:left;white-space:normal}
tr.zero td{color:#b00020}
.sw{display:inline-block;width:1.1em;height:1.1em;border:1px solid #555;vertical-align:-.2em;margin-right:.4em;border-radius:2px}
img{max-width:100%;height:auto}
img.px{image-rendering:pixelated;image-rendering:crisp-edges}
figure{margin:0}figcaption{color:#555;font-size:.85em}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;margin-bottom:12px}
.file{background:#fff;border:1px solid #ddd;border-left:4px solid #b00020;border-radius:6px;padding:10px 12px;margin:10px 0}
.file h3{font-size:1em;margin:0 0 .3em;overflow-wrap:anywhere;font-family:ui-monospace,Menlo,Consolas,monospace}
.file p{margin:.2em 0;overflow-wrap:anywhere}
.thumbs{display:flex;flex-wrap:wrap;gap:10px;margin-top:6px}
.colors{display:flex;flex-wrap:wrap;gap:6px 14px;margin:.4em 0;padding:0;list-style:none;font-size:.9em}
.colors li{white-space:nowrap}
.more{color:#555;font-style:italic}
.note{background:#fff8e1;border:1px solid #e6c200;border-radius:6px;padding:8px 12px}
.sample{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
.sample figure{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px}
.sample figcaption{overflow-wrap:anywhere;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.78em}
.sample img{display:block;width:100%}
.unread{height:80px;display:flex;align-items:center;justify-content:center;color:#b00020;border:2px solid #b00020}
.chart{overflow-x:auto}.phone{display:none}
@media (max-width:600px){body{font-size:14px}main{padding:10px}th,td{padding:3px 5px}
.chart img{max-width:none;width:760px}.phone{display:block;color:#555;font-size:.85em}
.sample{grid-template-columns:repeat(2,1fr)}}
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _hex(color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def _swatch(color) -> str:
    return f'<span class="sw" style="background:{_hex(color)}"></span>'


def _card(label: str, value, kind: str = "") -> str:
    return f'<div class="card {kind}"><b>{escape(str(value))}</b>{escape(label)}</div>'


def _summary(data: dict) -> str:
    failed, total = data["failed"], data["total"]
    cards = [
        _card("files checked", total),
        _card("passed", data["passed"], "good" if not failed else ""),
        _card("with problems", failed, "bad" if failed else "good"),
        _card("warnings", len(data["warnings"]), "warn" if data["warnings"] else ""),
    ]
    sizes = ", ".join(f"{s['width']}x{s['height']} ({s['files']})" for s in data["sizes"][:5]) or "none"
    more = f" and {len(data['sizes']) - 5} more" if len(data["sizes"]) > 5 else ""
    parts = [f'<div class="cards">{"".join(cards)}</div>', f"<p>Sizes: {escape(sizes + more)}</p>"]
    if data["warnings"]:
        items = "".join(f"<li>{escape(w)}</li>" for w in data["warnings"])
        parts.append(f'<ul class="notes">{items}</ul>')
    return "\n".join(parts)


def _class_table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        cls = ' class="zero"' if not r["pixels"] else ""
        body.append(
            f"<tr{cls}><td>{r['id']}</td><td class=\"l\">{_swatch(r['color'])}{escape(r.get('name') or '')}</td>"
            f"<td>{r['pixels']:,}</td><td>{r['share']:.3f}</td><td>{r['files']:,}</td></tr>"
        )
    return ('<div class="scroll"><table><thead><tr><th>id</th><th class="l">class</th><th>pixels</th>'
            '<th>%</th><th>files</th></tr></thead><tbody>' + "".join(body) + "</tbody></table></div>")


def _problem(f: dict) -> str:
    out = [f'<div class="file"><h3>{escape(f["input"])}</h3>']
    if f.get("error") and not (f.get("unknown_colors") or f.get("unknown_values")):
        out.append(f"<p>{escape(f['error'])}</p>")
    colors = f.get("unknown_colors") or []
    values = f.get("unknown_values") or []
    if colors:
        px = sum(n for _, n in colors)
        out.append(f"<p>{len(colors)} unknown color(s) on {px:,} px" +
                   (f" ({escape(f['hint'])})" if f.get("hint") else "") + "</p>")
        items = "".join(f"<li>{_swatch(c)}({c[0]}, {c[1]}, {c[2]}) {escape(_hex(c))}: {n:,} px</li>"
                        for c, n in colors[:MAX_COLORS])
        out.append(f'<ul class="colors">{items}</ul>')
        if len(colors) > MAX_COLORS:
            out.append(f'<p class="more">and {len(colors) - MAX_COLORS} more color(s)</p>')
    if values:
        items = "".join(f"<li>value {v}: {n:,} px</li>" for v, n in values[:MAX_COLORS])
        out.append(f'<p>{len(values)} value(s) not in the palette</p><ul class="colors">{items}</ul>')
        if len(values) > MAX_COLORS:
            out.append(f'<p class="more">and {len(values) - MAX_COLORS} more value(s)</p>')
    if f.get("size"):
        out.append(f"<p>{f['size'][0]}x{f['size'][1]}, {escape(f.get('mode', ''))}</p>")
    if f.get("photo_error"):
        out.append(f'<p class="more">No overlay: {escape(f["photo_error"])}</p>')
    if f.get("images"):
        figs = "".join(f'<figure><img class="px" src="{data_uri(png)}" alt="{escape(label)}"><figcaption>'
                       f"{escape(label)}</figcaption></figure>" for label, png in f["images"])
        out.append(f'<div class="thumbs">{figs}</div>')
    out.append("</div>")
    return "".join(out)


def render(data: dict, rows: list[dict], chart_png: bytes | None, problems: list[dict], more: int,
           sample: list, palette_name: str, plot_note: str | None = None,
           sample_note: str = "Nearest-neighbour thumbnails: every color shown is a color of the mask.") -> str:
    """The page. ``problems``: the listed files with problems (the JSON report's file entries plus
    "images": [(label, png bytes)]); ``more``: how many more files had problems; ``sample``:
    [(path, thumbnail png bytes or None when unreadable)] for the sample grid."""
    options = data.get("options") or {}
    inputs = " ".join(str(i) for i in options.get("inputs") or []) or "(--files-from)"
    head = (f'<h1>maskcli check report</h1><p class="sub">{escape(inputs)} &middot; palette '
            f"{escape(palette_name)} &middot; maskcli {escape(data.get('maskcli', ''))}</p>")
    sections = [head, "<h2>Summary</h2>", _summary(data), "<h2>Classes</h2>"]
    if chart_png:
        sections.append(f'<figure class="chart"><img src="{data_uri(chart_png)}" '
                        'alt="pixel share and files per class, as bars in the class colors"></figure>')
        sections.append('<p class="phone">The chart scrolls sideways; the table below has the same numbers.</p>')
    elif plot_note:
        sections.append(f'<p class="note">{escape(plot_note)}</p>')
    missing = sum(1 for r in rows if not r["pixels"])
    if missing:
        sections.append(f"<p>{missing} class(es) have no pixels in these files (in red).</p>")
    sections.append(_class_table(rows))
    sections.append(f"<h2>Files with problems ({data['failed']:,})</h2>")
    if not problems:
        sections.append("<p>None: every file was read and all its colors or values are in the palette.</p>")
    else:
        sections.extend(_problem(f) for f in problems)
        if more:
            sections.append(f'<p class="more">and {more:,} more file(s) with problems, not listed here: '
                            "see the terminal output or the --report JSON.</p>")
    if sample:
        sections.append(f"<h2>A sample of the masks ({len(sample)} of {data['total']:,})</h2>")
        sections.append(f"<p>Chosen at random (seed 0). {escape(sample_note)}</p>")
        figs = []
        for path, png in sample:
            img = (f'<img class="px" src="{data_uri(png)}" alt="{escape(path)}">' if png
                   else '<div class="unread">cannot read</div>')
            figs.append(f"<figure>{img}<figcaption>{escape(path)}</figcaption></figure>")
        sections.append(f'<div class="sample">{"".join(figs)}</div>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
            'style-src \'unsafe-inline\'">'
            f"<title>maskcli check: {escape(inputs)}</title><style>{CSS}</style></head>\n"
            "<body><main>\n" + "\n".join(sections) + "\n</main></body></html>\n")
