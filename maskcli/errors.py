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


SHOWN = 3  # colors or values an error line lists without -v
LISTED = 1000  # the most an error keeps, and lists with -v (the JSON report's ``error`` too)


def listing(items: list[str], total: int, sep: str, verbose: bool = False, cli: bool = True) -> str:
    """``items`` joined by ``sep``: the first SHOWN unless ``verbose``, then how many more there are
    (and, for the command line, that -v lists them).

    ``items`` may hold fewer than ``total`` entries (an error keeps at most LISTED)."""
    shown = items if verbose else items[:SHOWN]
    rest = total - len(shown)
    text = sep.join(shown)
    if rest > 0:
        if verbose or not cli:
            how = ""
        elif total <= LISTED:
            how = " (-v lists all)"
        else:
            how = f" (-v lists {LISTED})"
        text += f"{sep}and {rest} more{how}"
    return text


class ListingError(MaskError):
    """A per-file error that names many items (colors, values): its line lists SHOWN of them,
    ``message(verbose=True)`` every one it keeps. ``str()`` is the short line; ``cli`` adds
    that -v lists the rest."""

    hint = ""

    def _message(self, verbose: bool, cli: bool) -> str:
        raise NotImplementedError

    def message(self, verbose: bool = False, cli: bool = False) -> str:
        text = self._message(verbose, cli)
        return f"{text} ({self.hint})" if self.hint else text

    def __str__(self) -> str:
        return self.message(False)

    def with_hint(self, hint: str):
        """The same error with a hint appended to its message (hints add up)."""
        err = type(self).__new__(type(self))
        err.__dict__.update(self.__dict__)
        err.args = self.args
        err.hint = f"{self.hint}; {hint}" if self.hint else hint
        return err

    def __reduce__(self):  # picklable although __init__ takes the data, not the message
        return _restore, (type(self), self.args, self.__dict__.copy())


class UnknownColorsError(ListingError):
    """A color mask holds colors that the palette does not know.

    ``colors`` is a list of ``((r, g, b), pixel_count, (x, y))`` tuples, most frequent first
    (at most LISTED of them), and ``total`` the number of distinct unknown colors.
    """

    def __init__(self, colors, total, pixels, what=""):
        self.colors = list(colors)
        self.total = total
        self.pixels = pixels
        self.what = what
        super().__init__(self._message(False, False))

    def _message(self, verbose: bool, cli: bool) -> str:
        items = [f"({r}, {g}, {b}) {n} px first at x={x} y={y}" for (r, g, b), n, (x, y) in self.colors]
        noun = "color" if self.total == 1 else "colors"
        what = f" {self.what}" if self.what else ""
        return f"{self.total} unknown {noun}{what} on {self.pixels} px: {listing(items, self.total, '; ', verbose, cli)}"


class UnknownIndicesError(ListingError):
    """An index mask holds values that are neither a class id nor the ignore index.

    ``values`` is a list of ``(value, pixel_count)`` tuples, most frequent first (at most
    LISTED of them), and ``total`` the number of distinct such values.
    """

    def __init__(self, values, total, what="not in the palette"):
        self.values = list(values)
        self.total = total
        self.what = what
        super().__init__(self._message(False, False))

    def _message(self, verbose: bool, cli: bool) -> str:
        items = [f"{v} ({n} px)" for v, n in self.values]
        noun = "value" if self.total == 1 else "values"
        return f"{self.total} index {noun} {self.what}: {listing(items, self.total, ', ', verbose, cli)}"


def _restore(cls, args, state):
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


def error_message(exc: BaseException, verbose: bool = False) -> str:
    """The command line's message of a maskcli error: a ListingError's long form with ``verbose``."""
    return exc.message(verbose, cli=True) if isinstance(exc, ListingError) else str(exc)
