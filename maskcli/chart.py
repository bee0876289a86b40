"""The class chart of `maskcli check --plot`: per-class pixel share and files per class as
horizontal bars in the class colors (matplotlib, Agg backend; the optional extra maskcli[plot]).

Pure: rows of numbers in, PNG bytes out.
"""

from __future__ import annotations

import io

EDGE = "#333333"
MISSING = "#b00020"


def _hex(color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def _label(row: dict) -> str:
    name = row.get("name") or ""
    if len(name) > 28:
        name = name[:27] + "..."
    return f"{name} ({row['id']})" if name else str(row["id"])


def class_chart(rows: list[dict], scale: str = "linear", title: str = "") -> bytes:
    """Two panels sharing the class axis: the share of all pixels (%) and the number of files
    each class appears in. ``rows``: dicts with id, name, color (RGB), pixels, files, share.
    Classes with no pixels get no bar and a red 'none' mark. ``scale``: "linear" or "log"."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter

    n = max(1, len(rows))
    height = 1.3 + 0.24 * n
    fig = Figure(figsize=(10, height), dpi=100)
    ax_px, ax_files = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2], "wspace": 0.05})
    ys = list(range(len(rows)))
    colors = [_hex(r["color"]) for r in rows]
    shares = [r["share"] for r in rows]
    files = [r["files"] for r in rows]
    ax_px.barh(ys, shares, color=colors, edgecolor=EDGE, linewidth=0.6, height=0.75)
    ax_files.barh(ys, files, color=colors, edgecolor=EDGE, linewidth=0.6, height=0.75)
    ax_px.set_yticks(ys, [_label(r) for r in rows], fontsize=8)
    ax_px.invert_yaxis()  # the first id at the top, as in the table
    for tick, row in zip(ax_px.get_yticklabels(), rows):
        if not row["pixels"]:
            tick.set_color(MISSING)
    positive = [s for s in shares if s > 0]
    if not positive:  # nothing was read: a log scale has nothing to show
        scale = "linear"
        ax_px.text(0.5, 0.5, "no pixels were read", ha="center", va="center", color=MISSING, fontsize=11,
                   transform=ax_px.transAxes, bbox={"facecolor": "white", "edgecolor": MISSING})
    if scale == "log":
        ax_px.set_xscale("log")
        ax_px.set_xlim(min(positive) / 2, 200)
        ax_files.set_xscale("log")
        ax_files.set_xlim(0.8, max(files + [1]) * 2)
    else:
        ax_px.set_xlim(0, max(shares + [1]) * 1.15)
        ax_files.set_xlim(0, max(files + [1]) * 1.15)
    left = ax_px.get_xlim()[0]
    for y, row in zip(ys, rows):
        if not row["pixels"]:
            ax_px.text(left, y, "  none", va="center", ha="left", color=MISSING, fontsize=8, style="italic")
        else:
            ax_px.text(row["share"], y, f" {_percent(row['share'])}", va="center", ha="left", fontsize=7)
            ax_files.text(row["files"], y, f" {row['files']}", va="center", ha="left", fontsize=7)
    ax_px.set_xlabel("share of all pixels (%)" + (", log scale" if scale == "log" else ""))
    ax_files.set_xlabel("files with the class" + (", log scale" if scale == "log" else ""))
    if scale == "log":
        ax_files.xaxis.set_major_formatter(ScalarFormatter())
        ax_files.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax_files.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_px, ax_files):
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_ylim(len(rows) - 0.4, -0.6)
        if len(rows) > 30:  # a tall chart: the scale at the top too
            ax.tick_params(axis="x", top=True, labeltop=True)
    missing = sum(1 for r in rows if not r["pixels"])
    classes = sum(1 for r in rows if not r.get("ignore"))
    heading = title + ("; " if title else "") + f"{classes} classes" + (" and ignore" if classes < len(rows) else "")
    if missing:
        heading += f", {missing} with no pixels (red)"
    fig.suptitle(heading, fontsize=10, x=0.01, ha="left", y=1 - 0.25 / height)
    fig.subplots_adjust(left=0.22, right=0.98, top=1 - (0.8 if len(rows) > 30 else 0.55) / height,
                        bottom=0.75 / height)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _percent(share: float) -> str:
    if share >= 10:
        return f"{share:.1f}%"
    if share >= 0.01:
        return f"{share:.2f}%"
    return f"{share:.1e}%"
