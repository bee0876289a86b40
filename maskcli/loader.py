"""Reading masks as class indices inside a training loop: a data loader's ``__getitem__``.

:class:`IndexLoader` does the palette's work once (the color table, the sorted colors, the
unknown-color policy) and then decodes and converts one file per call, as the CLI's workers
do, with no per-call palette work. It pickles without its tables (PyTorch's DataLoader sends
the dataset to each worker process) and rebuilds them there on first use.

    palette = maskcli.load_palette("cityscapes")
    to_index = maskcli.IndexLoader(palette)                  # once, in Dataset.__init__
    index = to_index("aachen_000000_000019_gtFine_color.png")  # per item: (H, W) uint8/uint16
"""

from __future__ import annotations

import os

from maskcli.convert import UnknownPolicy
from maskcli.errors import WrongKindError
from maskcli.palette import Palette


class IndexLoader:
    """Decode a color (or palettized) mask file, or an RGB array, to its class-index array.

    ``unknown``, ``max_distance`` and ``beyond`` are :func:`maskcli.rgb_to_index`'s unknown-
    color policy. ``alpha="ignore"`` writes fully transparent pixels as the palette's ignore
    index; by default a file with transparent pixels raises, as the CLI does.
    ``channel_order="bgr"`` reads files whose red and blue are swapped (see
    :func:`maskcli.read_mask`)."""

    def __init__(self, palette: Palette, unknown: str = "error", max_distance: float | None = None,
                 beyond: str = "error", alpha: str = "error", channel_order: str = "rgb"):
        if alpha not in ("error", "ignore"):
            raise ValueError(f"alpha={alpha!r}: expected 'error' or 'ignore'")
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order={channel_order!r}: expected 'rgb' or 'bgr'")
        self.palette = palette
        self.policy = UnknownPolicy(unknown, max_distance, beyond)
        self.alpha = alpha
        self.channel_order = channel_order
        self._tables = None  # built on first use, in the process that uses them
        self._pairs = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tables"] = state["_pairs"] = None  # 16-32 MiB: rebuilt where they are used
        return state

    def _prepare(self) -> None:
        from maskcli import convert

        self._tables = convert.decoder_tables(self.palette)
        self._pairs = convert.sorted_pairs(self.palette)

    def __call__(self, path: str | os.PathLike):
        """The (H, W) index array of the mask file at ``path``."""
        from maskcli.errors import MaskError
        from maskcli.masks import read_mask

        try:
            return self.mask(read_mask(path, self.channel_order))
        except MaskError as exc:  # the reason says what; the note says which file
            if hasattr(exc, "add_note"):
                exc.add_note(f"file: {os.fspath(path)}")
            raise

    def from_bytes(self, data: bytes):
        """The index array of a mask file's bytes (a PNG read from an archive or a store)."""
        from maskcli.masks import decode_mask

        return self.mask(decode_mask(data, self.channel_order))

    def mask(self, mask):
        """The index array of a decoded :class:`maskcli.Mask`."""
        from maskcli import convert

        if self._tables is None:
            self._prepare()
        transparent = mask.transparent
        if transparent is not None and self.alpha != "ignore":
            raise WrongKindError(f"has {int(transparent.sum())} fully transparent px (use alpha='ignore')")
        if mask.kind == "color":
            return convert.decode_rows(mask.keys, mask.shape, self.palette, self.policy, transparent,
                                       tables=self._tables).index
        if mask.kind == "palettized":
            return convert.decode_palettized(mask.array, mask.colors, self.palette, self.policy, transparent,
                                             pairs=self._pairs).index
        raise WrongKindError(f"is {mask.a_mode} image, so it looks like an index mask already")

    def from_array(self, rgb):
        """The index array of an (H, W, 3) uint8 RGB array (:func:`maskcli.rgb_to_index`)."""
        import numpy as np

        from maskcli import convert

        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
        if self._tables is None:
            self._prepare()
        return convert.decode_rows(lambda rows: convert.pack_rgb(rgb[rows]), rgb.shape[:2], self.palette,
                                   self.policy, tables=self._tables).index
