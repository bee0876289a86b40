"""maskcli: convert segmentation label masks between RGB colors and class indices.

The public API (importable without the CLI)::

    import maskcli
    palette = maskcli.load_palette("cityscapes")          # a built-in name or a YAML file
    index = maskcli.rgb_to_index(rgb, palette)            # (H, W, 3) uint8 RGB -> (H, W) uint8/uint16
    rgb = maskcli.index_to_rgb(index, palette)            # and back
    mask = maskcli.read_mask("a.png"); maskcli.write_index_mask("b.png", index)
    ids = maskcli.ade20k_full_to_index(rgb)               # encoded label images (docs/formats.md)
    ids = maskcli.decode_encoded("cityscapes-instance", maskcli.read_raw("x_instanceIds.png").data)
    ann = maskcli.read_annotation("x_gtFine_polygons.json")  # polygons (docs/formats.md)
    ids = maskcli.cityscapes_mask(ann.height, ann.width, ann.items, maskcli.LabelTable((("car", 26),), 255))
    to_index = maskcli.IndexLoader(palette); index = to_index("a.png")   # for data loaders

Heavy modules (NumPy, OpenCV, Pillow) are imported on first use, so that ``maskcli --help``
starts fast.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "Palette": "maskcli.palette",
    "PaletteClass": "maskcli.palette",
    "load_palette": "maskcli.palette",
    "builtin_palettes": "maskcli.palette",
    "rgb_to_index": "maskcli.convert",
    "index_to_rgb": "maskcli.convert",
    "color_counts": "maskcli.convert",
    "read_mask": "maskcli.masks",
    "write_index_mask": "maskcli.masks",
    "write_rgb_mask": "maskcli.masks",
    "Mask": "maskcli.masks",
    "Encoding": "maskcli.encodings",
    "ENCODINGS": "maskcli.encodings",
    "decode_encoded": "maskcli.encodings",
    "ade20k_full_to_index": "maskcli.encodings",
    "ade20k_full_instances": "maskcli.encodings",
    "cityscapes_instance_to_index": "maskcli.encodings",
    "cityscapes_instance_instances": "maskcli.encodings",
    "panoptic_segment_ids": "maskcli.encodings",
    "coco_panoptic_to_index": "maskcli.encodings",
    "load_annotations": "maskcli.encodings",
    "annotation_palette": "maskcli.encodings",
    "bdd100k_bitmask_to_index": "maskcli.encodings",
    "bdd100k_bitmask_instances": "maskcli.encodings",
    "mapillary_instance_to_index": "maskcli.encodings",
    "read_raw": "maskcli.masks",
    "Shape": "maskcli.polygons",
    "LabelTable": "maskcli.polygons",
    "rasterize_shapes": "maskcli.polygons",
    "cityscapes_mask": "maskcli.polygons",
    "labelme_mask": "maskcli.polygons",
    "read_annotation": "maskcli.annotations",
    "parse_annotation": "maskcli.annotations",
    "IndexLoader": "maskcli.loader",
    "MaskcliError": "maskcli.errors",
    "PaletteError": "maskcli.errors",
    "MaskError": "maskcli.errors",
    "UnknownColorsError": "maskcli.errors",
    "UnknownIndicesError": "maskcli.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maskcli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
