"""maskcli's exception types.

No click here: the CLI turns these into messages and exit codes in one place.
"""


class MaskcliError(Exception):
    """Base class of every error maskcli raises on purpose."""


class PaletteError(MaskcliError):
    """A palette file or name is invalid (a usage error: the run cannot start)."""


class UsageError(MaskcliError):
    """The inputs or options of a run cannot work (exit status 2)."""


class MaskError(MaskcliError):
    """One mask file cannot be converted; the run goes on with the others."""


class ReadError(MaskError):
    """The file cannot be read or decoded as an image."""


class WrongKindError(MaskError):
    """The image is of the wrong kind for the command (e.g. an index mask given to to-index)."""


class UnknownColorsError(MaskError):
    """A color mask holds colors that the palette does not know.

    ``colors`` is a list of ``((r, g, b), pixel_count, (x, y))`` tuples, most frequent first,
    and ``total`` the number of distinct unknown colors.
    """

    def __init__(self, colors, total, pixels, what=""):
        self.colors = colors
        self.total = total
        self.pixels = pixels
        self.hint = ""
        shown = "; ".join(
            f"({r}, {g}, {b}) {n} px first at x={x} y={y}" for (r, g, b), n, (x, y) in colors
        )
        more = f" (and {total - len(colors)} more)" if total > len(colors) else ""
        noun = "color" if total == 1 else "colors"
        what = f" {what}" if what else ""
        super().__init__(f"{total} unknown {noun}{what} on {pixels} px: {shown}{more}")

    def with_hint(self, hint: str) -> "UnknownColorsError":
        """The same error with a hint appended to its message."""
        err = UnknownColorsError.__new__(UnknownColorsError)
        err.__dict__.update(self.__dict__)
        err.hint = hint
        err.args = (f"{self.args[0]} ({hint})",)
        return err


class UnknownIndicesError(MaskError):
    """An index mask holds values that are neither a class id nor the ignore index.

    ``values`` is a list of ``(value, pixel_count)`` tuples, most frequent first.
    """

    def __init__(self, values, total, what="not in the palette"):
        self.values = values
        self.total = total
        shown = ", ".join(f"{v} ({n} px)" for v, n in values)
        more = f" (and {total - len(values)} more)" if total > len(values) else ""
        noun = "value" if total == 1 else "values"
        super().__init__(f"{total} index {noun} {what}: {shown}{more}")
