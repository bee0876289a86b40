"""Encoded label images (--encoding): ADE20K full, Cityscapes instanceIds, COCO panoptic,
BDD100K bitmasks, Mapillary instance PNGs. Real corpus files where the corpus has them,
files generated from each format's published definition otherwise."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import read_png, write_png
from maskcli import encodings
from maskcli.cli import cli
from maskcli.errors import MaskError

ADE = "ADE20K/dataset/ADE20K_2021_17_01/images/ADE/training/urban/street"
CS = "mmsegmentation/tests/data/pseudo_cityscapes_dataset/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_"
BDD_BITMASKS = ("bdd100k/tests/common/testcases/example_bitmask.png",
                "bdd100k/tests/label/testcases/panseg_bdd100k/panseg_mask.png",
                "bdd100k/tests/eval/testcases/pan_seg/gt/a.png")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# --------------------------------------------------------------------------- pure decoders


def test_ade20k_formula_covers_every_r_and_g_and_is_16_bit():
    r, g = np.meshgrid(np.arange(0, 256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    rgb = np.stack([r, g, np.full_like(r, 7)], axis=-1)
    out = encodings.ade20k_full_to_index(rgb)
    assert out.dtype == np.uint16
    assert (out == (r.astype(int) // 10) * 256 + g).all()
    assert out[250, 255] == 25 * 256 + 255
    assert (encodings.ade20k_full_instances(rgb) == 7).all()
    assert encodings.ade20k_full_to_index(rgb, void=65535)[0, 0] == 65535  # class 0 is void


def test_cityscapes_instance_ids_give_label_ids_and_instances():
    ids = np.array([[0, 7, 999, 24000], [24001, 26002, 33, 1000]], dtype=np.uint16)
    assert encodings.cityscapes_instance_to_index(ids).tolist() == [[0, 7, 999, 24], [24, 26, 33, 1]]
    assert encodings.cityscapes_instance_instances(ids).tolist() == [[0, 0, 0, 24000], [24001, 26002, 0, 1000]]
    small = np.array([[0, 7, 24]], dtype=np.uint16)
    assert encodings.cityscapes_instance_to_index(small).dtype == np.uint8


def test_coco_panoptic_segment_ids_and_categories():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (1, 0, 0)  # id 1
    rgb[0, 1] = (0, 1, 0)  # id 256
    rgb[0, 2] = (3, 2, 1)  # id 3 + 512 + 65536
    assert encodings.panoptic_segment_ids(rgb).tolist() == [[1, 256, 66051], [0, 0, 0]]
    out = encodings.coco_panoptic_to_index(rgb, {1: 17, 256: 200, 66051: 0})
    assert out.tolist() == [[17, 200, 0], [255, 255, 255]]
    assert encodings.coco_panoptic_to_index(rgb, {1: 17, 256: 300, 66051: 0}, void=0).dtype == np.uint16
    with pytest.raises(MaskError, match=r"1 segment id\(s\) not in the annotations: 66051 \(1 px\)"):
        encodings.coco_panoptic_to_index(rgb, {1: 17, 256: 200})


def test_bdd100k_bitmask_and_mapillary_instance():
    rgba = np.array([[[3, 4, 1, 2], [0, 0, 0, 0]]], np.uint8)
    assert encodings.bdd100k_bitmask_to_index(rgba).tolist() == [[3, 0]]
    assert encodings.bdd100k_bitmask_instances(rgba).tolist() == [[258, 0]]
    values = np.array([[13 * 256, 55 * 256 + 7, 65 * 256 + 255]], np.uint16)
    assert encodings.mapillary_instance_to_index(values).tolist() == [[13, 55, 65]]


def test_decoders_refuse_wrong_arrays_with_a_value_error():
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) RGB uint8 array, got \(2, 2\) uint8"):
        encodings.ade20k_full_to_index(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="expected an"):
        encodings.mapillary_instance_to_index(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="unknown encoding 'nope'"):
        encodings.decode_encoded("nope", np.zeros((2, 2), np.uint8))


def test_the_api_exposes_every_decoder():
    import maskcli

    raw = np.array([[24001, 7]], np.uint16)
    assert maskcli.decode_encoded("cityscapes-instance", raw).tolist() == [[24, 7]]
    for name in ("ade20k_full_to_index", "cityscapes_instance_to_index", "coco_panoptic_to_index",
                 "bdd100k_bitmask_to_index", "mapillary_instance_to_index", "load_annotations", "read_raw"):
        assert callable(getattr(maskcli, name))


# --------------------------------------------------------------------------- real files


def test_ade20k_full_seg_pngs_decode_to_the_classes_their_json_names(corpus, tmp_path):
    folder = corpus / ADE
    result = invoke("to-index", folder, "--include", "*_seg.png", "-o", tmp_path / "out", "--encoding", "ade20k-full")
    assert result.exit_code == 0, result.output
    for name in ("ADE_train_00016869", "ADE_train_00016900", "ADE_train_00016964"):
        mode, out = read_png(tmp_path / "out" / f"{name}_seg.png")
        rgb = np.asarray(Image.open(folder / f"{name}_seg.png")).astype(np.int64)
        assert mode.startswith("I;16")  # 16-bit even where ids would fit (they do not here)
        assert (out == rgb[..., 0] // 10 * 256 + rgb[..., 1]).all()
        assert out.max() > 255
    objects = json.loads((folder / "ADE_train_00016869.json").read_text())["annotation"]["object"]
    whole = {o["name_ndx"] for o in objects if o["parts"]["part_level"] == 0}
    _, out = read_png(tmp_path / "out" / "ADE_train_00016869_seg.png")
    assert set(np.unique(out).tolist()) == whole | {0}


def test_cityscapes_instance_ids_decode_to_the_frames_label_ids(corpus, tmp_path):
    src = corpus / f"{CS}instanceIds.png"
    result = invoke("to-index", src, "-o", tmp_path / "ids.png", "--encoding", "cityscapes-instance",
                    "-p", "cityscapes-labelids", "--instances", tmp_path / "inst")
    assert result.exit_code == 0, result.output
    _, ids = read_png(tmp_path / "ids.png")
    _, label_ids = read_png(corpus / f"{CS}labelIds.png")
    assert ids.dtype == np.uint8 and (ids == label_ids).all()
    _, inst = read_png(tmp_path / "inst" / "ids.png")
    _, stored = read_png(src)
    assert inst.dtype == np.uint16
    assert (inst == np.where(stored >= 1000, stored, 0)).all()
    assert sorted(np.unique(inst).tolist()) == [0, 24000, 24001, 24002, 24003, 26000, 26001, 26002]


def test_remap_composes_with_an_encoding(corpus, tmp_path):
    folder = corpus / CS.rsplit("/", 1)[0]
    result = invoke("remap", folder, "--include", "*_instanceIds.png", "--encoding", "cityscapes-instance",
                    "--map", "cityscapes-trainids", "-o", tmp_path / "a")
    assert result.exit_code == 0, result.output
    result = invoke("remap", folder, "--include", "*_labelIds.png", "--map", "cityscapes-trainids", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.output
    _, a = read_png(tmp_path / "a" / "frankfurt_000000_000294_gtFine_instanceIds.png")
    _, b = read_png(tmp_path / "b" / "frankfurt_000000_000294_gtFine_labelIds.png")
    assert (a == b).all() and 255 in a


def test_check_with_an_encoding_lists_values_the_palette_lacks(corpus):
    src = corpus / f"{CS}instanceIds.png"
    result = invoke("check", src, "--encoding", "cityscapes-instance", "-p", "cityscapes")
    assert result.exit_code == 1
    assert ("5 value(s) not in the palette: 26 (1802 px), 21 (664 px), 23 (581 px), and 2 more (-v lists all)"
            in result.output)
    result = invoke("check", src, "--encoding", "cityscapes-instance", "-p", "cityscapes-labelids")
    assert result.exit_code == 0, result.output
    assert "person" in result.output


def test_bdd100k_bitmasks_convert_although_their_alpha_is_data(corpus, tmp_path):
    srcs = [corpus / p for p in BDD_BITMASKS]
    refused = invoke("to-index", srcs[0], "-o", tmp_path / "no.png", "-p", "bdd100k")
    assert refused.exit_code == 1 and "BDD100K bitmasks" in refused.output
    for i, src in enumerate(srcs):
        out = tmp_path / f"{i}.png"
        result = invoke("to-index", src, "-o", out, "--encoding", "bdd100k-bitmask", "--instances", tmp_path / "inst")
        assert result.exit_code == 0, result.output
        rgba = np.asarray(Image.open(src))
        _, ids = read_png(out)
        assert (ids == rgba[..., 0]).all()
        _, inst = read_png(tmp_path / "inst" / f"{i}.png")
        assert (inst == rgba[..., 2].astype(np.uint16) * 256 + rgba[..., 3]).all()
    _, ids = read_png(tmp_path / "0.png")
    assert np.unique(ids).tolist() == [0, 3]


# --------------------------------------------------------------------------- generated files


def _panoptic(tmp_path, name="000000000139.png"):
    """A COCO panoptic PNG and its annotation JSON, as panopticapi defines them."""
    ids = np.array([[0, 5, 5, 70000], [131071, 131071, 5, 0]], dtype=np.int64)
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    write_png(tmp_path / "pan" / name, rgb)
    data = {
        "images": [{"id": 139, "file_name": name.replace(".png", ".jpg"), "width": 4, "height": 2}],
        "annotations": [{"image_id": 139, "file_name": name, "segments_info": [
            {"id": 5, "category_id": 1, "area": 3, "bbox": [1, 0, 2, 2], "iscrowd": 0},
            {"id": 70000, "category_id": 200, "area": 1, "bbox": [3, 0, 1, 1], "iscrowd": 0},
            {"id": 131071, "category_id": 44, "area": 2, "bbox": [0, 1, 2, 1], "iscrowd": 0}]}],
        "categories": [{"id": 1, "name": "person", "isthing": 1}, {"id": 44, "name": "bottle", "isthing": 1},
                       {"id": 200, "name": "rug-merged", "isthing": 0}],
    }
    ann = tmp_path / "panoptic_val2017.json"
    ann.write_text(json.dumps(data))
    return ann, data


def test_coco_panoptic_categories_original_and_contiguous(tmp_path):
    ann, _ = _panoptic(tmp_path)
    for categories, expected in (("original", [[255, 1, 1, 200], [44, 44, 1, 255]]),
                                 ("contiguous", [[255, 0, 0, 2], [1, 1, 0, 255]])):
        out = tmp_path / categories
        result = invoke("to-index", tmp_path / "pan", "-o", out, "--encoding", "coco-panoptic",
                        "--annotations", ann, "--categories", categories)
        assert result.exit_code == 0, result.output
        mode, ids = read_png(out / "000000000139.png")
        assert mode == "L" and ids.tolist() == expected


def test_coco_panoptic_void_becomes_the_palettes_ignore_index(tmp_path):
    ann, _ = _panoptic(tmp_path)
    palette = tmp_path / "coco.yaml"
    palette.write_text("name: c\nignore_index: 0\nclasses:\n"
                       "  - {id: 1, name: person, color: [220, 20, 60]}\n"
                       "  - {id: 44, name: bottle, color: [0, 0, 230]}\n"
                       "  - {id: 200, name: rug, color: [99, 99, 99]}\n")
    result = invoke("to-index", tmp_path / "pan", "-o", tmp_path / "o", "--encoding", "coco-panoptic",
                    "--annotations", ann, "-p", palette, "--format", "indexed")
    assert result.exit_code == 0, result.output
    img = Image.open(tmp_path / "o" / "000000000139.png")
    assert img.mode == "P" and np.asarray(img).tolist() == [[0, 1, 1, 200], [44, 44, 1, 0]]
    assert img.getpalette()[3:6] == [220, 20, 60]


def test_coco_panoptic_unknown_segments_and_files_are_per_file_errors(tmp_path):
    ann, data = _panoptic(tmp_path)
    del data["annotations"][0]["segments_info"][2]  # 131071 no longer listed
    ann.write_text(json.dumps(data))
    write_png(tmp_path / "pan" / "000000000285.png", np.zeros((2, 2, 3), np.uint8))  # not in the JSON
    result = invoke("to-index", tmp_path / "pan", "-o", tmp_path / "o", "--encoding", "coco-panoptic", "--annotations", ann)
    assert result.exit_code == 1
    assert "000000000139.png: 1 segment id(s) not in the annotations: 131071 (2 px)" in result.output
    assert "000000000285.png: has no entry in the annotations (no file_name '000000000285.png')" in result.output
    assert not (tmp_path / "o" / "000000000139.png").exists()


def test_update_reconverts_when_the_annotations_change_not_when_they_move(tmp_path):
    ann, data = _panoptic(tmp_path)
    args = ["to-index", tmp_path / "pan", "-o", tmp_path / "o", "--encoding", "coco-panoptic", "--update"]
    assert invoke(*args, "--annotations", ann).exit_code == 0
    moved = tmp_path / "elsewhere.json"
    moved.write_text(ann.read_text())
    result = invoke(*args, "--annotations", moved)
    assert result.exit_code == 0 and "1 up to date" in result.output, result.output
    data["annotations"][0]["segments_info"][0]["category_id"] = 44
    moved.write_text(json.dumps(data))
    result = invoke(*args, "--annotations", moved)
    assert result.exit_code == 0 and "1 converted" in result.output, result.output
    _, ids = read_png(tmp_path / "o" / "000000000139.png")
    assert ids[0, 1] == 44
    result = invoke(*args, "--annotations", moved, "--categories", "contiguous")
    assert "1 converted" in result.output


def test_mapillary_instance_pngs_decode_to_labels(tmp_path):
    labels = np.array([[13, 13, 55], [65, 19, 0]], np.uint16)
    write_png(tmp_path / "in" / "a.png", labels * 256 + np.array([[0, 0, 3], [0, 1, 2]], np.uint16))
    write_png(tmp_path / "in" / "b.png", np.zeros((2, 2), np.uint8))
    result = invoke("to-index", tmp_path / "in", "-o", tmp_path / "o", "--encoding", "mapillary-instance",
                    "-p", "mapillary-v1.2")
    assert result.exit_code == 1
    mode, out = read_png(tmp_path / "o" / "a.png")
    assert mode == "L" and out.tolist() == labels.tolist()
    assert "b.png: is an 8-bit image; mapillary-instance label images are 16-bit" in result.output


def test_ade20k_void_is_zero_without_a_palette_and_the_ignore_index_with_one(tmp_path):
    rgb = np.array([[[0, 0, 0], [30, 5, 1]]], np.uint8)  # void, class 3 * 256 + 5 = 773
    write_png(tmp_path / "x_seg.png", rgb)
    assert invoke("to-index", tmp_path / "x_seg.png", "-o", tmp_path / "a.png", "--encoding", "ade20k-full").exit_code == 0
    assert read_png(tmp_path / "a.png")[1].tolist() == [[0, 773]]
    palette = tmp_path / "p.yaml"
    palette.write_text("name: p\nignore_index: 65535\nclasses:\n  - {id: 773, name: x, color: [1, 2, 3]}\n")
    result = invoke("to-index", tmp_path / "x_seg.png", "-o", tmp_path / "b.png", "--encoding", "ade20k-full", "-p", palette)
    assert result.exit_code == 0, result.output
    assert read_png(tmp_path / "b.png")[1].tolist() == [[65535, 773]]


def test_stdin_to_stdout_with_an_encoding(tmp_path):
    import subprocess

    write_png(tmp_path / "i.png", np.array([[24001, 7]], np.uint16))
    with open(tmp_path / "i.png", "rb") as f:
        done = subprocess.run([sys.executable, "-m", "maskcli", "to-index", "-", "-o", "-", "--encoding",
                               "cityscapes-instance"], stdin=f, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (tmp_path / "o.png").write_bytes(done.stdout)
    assert read_png(tmp_path / "o.png")[1].tolist() == [[24, 7]]


@pytest.mark.parametrize("extra, message", [
    (["--encoding", "coco-panoptic"], "--encoding coco-panoptic needs --annotations"),
    (["--encoding", "ade20k-full", "--unknown", "nearest", "--max-distance", "3"],
     "--unknown nearest does not apply to --encoding"),
    (["--encoding", "mapillary-instance", "--instances", "inst"], "--instances: mapillary-instance stores no instance"),
    (["--encoding", "ade20k-full", "--annotations", "x.json"], "--annotations and --categories go with --encoding coco-panoptic"),
    (["--encoding", "ade20k-full", "-p", "embedded"], "-p embedded keeps a palettized file's indices"),
    (["--encoding", "ade20k-full", "--format", "indexed"], "--format indexed takes its colors from -p"),
    ([], "Missing option '-p' / '--palette'"),
])
def test_options_that_do_not_go_with_an_encoding_are_usage_errors(tmp_path, extra, message):
    write_png(tmp_path / "x.png", np.zeros((2, 2, 3), np.uint8))
    result = invoke("to-index", tmp_path / "x.png", "-o", tmp_path / "o.png", *extra)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o.png").exists()


def test_bad_annotation_json_is_a_usage_error(tmp_path):
    write_png(tmp_path / "x.png", np.zeros((2, 2, 3), np.uint8))
    bad = tmp_path / "bad.json"
    bad.write_text('{"annotations": [{"file_name": "x.png"}], "categories": []}')
    result = invoke("to-index", tmp_path / "x.png", "-o", tmp_path / "o.png", "--encoding", "coco-panoptic",
                    "--annotations", bad)
    assert result.exit_code == 2
    assert "annotation #0 has no 'file_name' string and 'segments_info' list" in result.output


def test_extract_palette_with_an_encoding_lists_the_decoded_ids(corpus, tmp_path):
    from maskcli.palette import load_palette

    seg = corpus / ADE / "ADE_train_00016869_seg.png"
    out = tmp_path / "ade.yaml"
    result = invoke("extract-palette", seg, "--encoding", "ade20k-full", "-o", out)
    assert result.exit_code == 0, result.output
    palette = load_palette(str(out))
    objects = json.loads((corpus / ADE / "ADE_train_00016869.json").read_text())["annotation"]["object"]
    assert [c.id for c in palette.classes] == sorted({o["name_ndx"] for o in objects if o["parts"]["part_level"] == 0})
    assert palette.ignore_index == 0  # ADE20K's unlabeled, not a class
    assert len({c.color for c in palette.classes}) == len(palette.classes)
    checked = invoke("check", seg, "--encoding", "ade20k-full", "-p", out)
    assert checked.exit_code == 0, checked.output
    named = invoke("extract-palette", corpus / f"{CS}instanceIds.png", "--encoding", "cityscapes-instance",
                   "--names-from", "cityscapes-labelids", "-o", tmp_path / "cs.yaml")
    assert named.exit_code == 0, named.output
    classes = {c.id: c for c in load_palette(str(tmp_path / "cs.yaml")).classes}
    assert classes[26].name == "car" and classes[26].color == (0, 0, 142)


def test_the_voc_colormap_extends_to_ids_above_255():
    from maskcli.extract import id_color

    assert [id_color(i) for i in range(4)] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    assert id_color(15) == (192, 128, 128)
    assert len({id_color(i) for i in range(4096)}) == 4096


# --------------------------------------------------------------------------- smaller outputs


def test_to_rgb_format_indexed_keeps_the_ids_with_the_colors_in_the_plte(tmp_path):
    ids = np.array([[0, 13, 255], [18, 0, 13]], np.uint8)
    write_png(tmp_path / "in" / "a.png", ids)
    write_png(tmp_path / "in" / "b.png", np.array([[0, 19]], np.uint8))  # 19 is not a train id
    result = invoke("to-rgb", tmp_path / "in", "-o", tmp_path / "o", "-p", "cityscapes", "--format", "indexed")
    assert result.exit_code == 1
    assert "b.png: 1 index value not in the palette: 19 (1 px)" in result.output
    img = Image.open(tmp_path / "o" / "a.png")
    assert img.mode == "P" and np.asarray(img).tolist() == ids.tolist()
    plte = np.array(img.getpalette(), np.uint8).reshape(-1, 3)
    assert plte[13].tolist() == [0, 0, 142] and plte[0].tolist() == [128, 64, 128]
    rgb = invoke("to-rgb", tmp_path / "in" / "a.png", "-o", tmp_path / "rgb.png", "-p", "cityscapes")
    assert rgb.exit_code == 0
    assert (np.asarray(img.convert("RGB")) == read_png(tmp_path / "rgb.png")[1]).all()
    back = invoke("to-index", tmp_path / "o" / "a.png", "-o", tmp_path / "back.png", "-p", "embedded")
    assert back.exit_code == 0 and read_png(tmp_path / "back.png")[1].tolist() == ids.tolist()


def test_to_rgb_format_indexed_needs_8_bit_ids(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
    palette = tmp_path / "p.yaml"
    palette.write_text("name: p\nclasses:\n  - {id: 300, name: x, color: [1, 2, 3]}\n")
    result = invoke("to-rgb", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", palette, "--format", "indexed")
    assert result.exit_code == 2 and "--format indexed holds ids 0..255" in result.output


def test_a_remap_table_extends_a_builtin_one(tmp_path):
    from maskcli.remap import load_map

    table = tmp_path / "t.yaml"
    table.write_text("name: t\nbase: cityscapes-trainids\nignore_index: 250\ndefault: ignore\n"
                     "map:\n  29: 14\n  30: 14\n  7: 100\n")
    write_png(tmp_path / "in.png", np.array([[7, 8, 29, 30, 0, 33, 40]], np.uint8))
    result = invoke("remap", tmp_path / "in.png", "-o", tmp_path / "o.png", "--map", table)
    assert result.exit_code == 0, result.output
    # 7 replaced, 8 from the base, 29/30 added, 0 (base ignore) -> this file's 250, 33 base, 40 the default
    assert read_png(tmp_path / "o.png")[1].tolist() == [[100, 1, 14, 14, 250, 18, 250]]
    only_base = tmp_path / "b.yaml"
    only_base.write_text("base: cityscapes-trainids\n")
    assert load_map(str(only_base)).pairs == load_map("cityscapes-trainids").pairs
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: nope\nmap: {1: 2}\n")
    result = invoke("remap", tmp_path / "in.png", "-o", tmp_path / "x.png", "--map", bad)
    assert result.exit_code == 2 and "base 'nope' is not a built-in map (built-ins: cityscapes-trainids)" in result.output


@pytest.mark.parametrize("names", ["data_dataset_voc/class_names.txt", "labels.txt"])
def test_labelme_class_names_are_a_palette_with_voc_colors(corpus, tmp_path, names):
    from maskcli.palette import load_palette

    root = corpus / "labelme/examples/semantic_segmentation"
    palette = load_palette(str(root / names))
    assert [c.name for c in palette.classes][:3] == ["_background_", "aeroplane", "bicycle"]
    assert palette.classes[15].name == "person" and palette.classes[15].color == (192, 128, 128)
    assert palette.ignore_index == 255 and palette.ignore_colors == ((224, 224, 192),)  # labelme's -1, saved as 255
    masks = root / "data_dataset_voc/SegmentationClass"
    result = invoke("to-index", masks, "-o", tmp_path / "o", "-p", root / names)
    assert result.exit_code == 0, result.output
    for png in sorted(masks.glob("*.png")):
        _, out = read_png(tmp_path / "o" / png.name)
        assert (out == np.asarray(Image.open(png))).all()  # the stored indices, through the colors
    npy = np.load(root / "data_dataset_voc/SegmentationClassNpy/2011_000003.npy", allow_pickle=False)
    _, out = read_png(tmp_path / "o" / "2011_000003.png")
    assert (out == np.where(npy == -1, 255, npy)).all()


# --------------------------------------------------------------------------- .npy index masks


def test_npy_index_masks_are_read_where_index_masks_are(corpus, tmp_path):
    root = corpus / "labelme/examples/semantic_segmentation/data_dataset_voc"
    npy = root / "SegmentationClassNpy/2011_000003.npy"
    png = root / "SegmentationClass/2011_000003.png"
    assert invoke("to-rgb", npy, "-o", tmp_path / "from_npy.png", "-p", "pascal-voc").exit_code == 0
    assert invoke("to-rgb", png, "-o", tmp_path / "from_png.png", "-p", "pascal-voc").exit_code == 0
    assert (read_png(tmp_path / "from_npy.png")[1] == read_png(tmp_path / "from_png.png")[1]).all()  # -1 read as 255
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.save(folder / "a.npy", np.array([[7, 8], [26, 0]], np.int64))
    result = invoke("remap", folder, "-o", tmp_path / "r", "--map", "cityscapes-trainids")
    assert result.exit_code == 0, result.output
    assert read_png(tmp_path / "r" / "a.png")[1].tolist() == [[0, 1], [13, 255]]
    result = invoke("check", folder, "--indices", "-p", "cityscapes-labelids")
    assert result.exit_code == 0 and "1 ok" in result.output
    # to-index reads color masks: its folder walk leaves .npy files alone
    write_png(folder / "c.png", np.zeros((2, 2, 3), np.uint8))
    result = invoke("to-index", folder, "-o", tmp_path / "t", "-p", "cityscapes-labelids")
    assert result.exit_code == 0 and "1 converted" in result.output, result.output


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 2), np.float32), "is a .npy array of float32; index masks hold integers"),
    (np.zeros((2, 2, 3), np.uint8), "is a .npy array of shape (2, 2, 3); index masks are 2-D"),
    (np.array([[0, -2]], np.int32), "holds negative values (down to -2)"),
    (np.array([[-1, 255]], np.int32), "holds negative values (down to -1)"),
    (np.array([[0, 70000]], np.int32), "holds values up to 70000; index masks hold 0..65535"),
    (np.array([[None, 1]], object), "is a .npy array of Python objects (pickled)"),
])
def test_bad_npy_arrays_are_per_file_errors(tmp_path, array, message):
    np.save(tmp_path / "x.npy", array, allow_pickle=True)
    result = invoke("to-rgb", tmp_path / "x.npy", "-o", tmp_path / "o.png", "-p", "cityscapes")
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_format_npy_writes_arrays_with_npy_names(tmp_path):
    rgb = np.array([[[128, 64, 128], [0, 0, 142]], [[70, 70, 70], [128, 64, 128]]], np.uint8)
    write_png(tmp_path / "in" / "sub" / "a.png", rgb)
    result = invoke("to-index", tmp_path / "in", "-o", tmp_path / "o", "-p", "cityscapes", "--format", "npy")
    assert result.exit_code == 0, result.output
    out = np.load(tmp_path / "o" / "sub" / "a.npy", allow_pickle=False)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 13], [2, 0]]
    single = invoke("to-index", tmp_path / "in" / "sub" / "a.png", "-o", tmp_path / "one.npy", "-p", "cityscapes",
                    "--format", "npy")
    assert single.exit_code == 0 and np.load(tmp_path / "one.npy").tolist() == [[0, 13], [2, 0]]
    write_png(tmp_path / "ids" / "b.png", np.array([[7, 26]], np.uint8))
    remapped = invoke("remap", tmp_path / "ids", "-o", tmp_path / "r2", "--map", "cityscapes-trainids",
                      "--format", "npy", "--update")
    assert remapped.exit_code == 0 and "converted again" in remapped.output
    assert np.load(tmp_path / "r2" / "b.npy").tolist() == [[0, 13]]


def test_instances_never_overwrite_an_input(corpus, tmp_path):
    import shutil

    folder = tmp_path / "gtFine"
    folder.mkdir()
    shutil.copy(corpus / f"{CS}instanceIds.png", folder / "f_instanceIds.png")
    before = (folder / "f_instanceIds.png").read_bytes()
    result = invoke("to-index", folder, "-o", tmp_path / "ids", "--encoding", "cityscapes-instance",
                    "--instances", folder)
    assert result.exit_code == 2
    assert "the output would overwrite the input" in result.output
    assert (folder / "f_instanceIds.png").read_bytes() == before
    assert not (tmp_path / "ids").exists()


def test_encodings_run_in_worker_processes(tmp_path):
    import subprocess

    ann, _ = _panoptic(tmp_path)
    for i in range(3):
        ids = np.array([[5, 70000], [131071, 0]], np.int64)
        rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
        write_png(tmp_path / "pan" / f"copy{i}" / "000000000139.png", rgb)
    done = subprocess.run([sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "pan"), "-o", str(tmp_path / "o"),
                           "--encoding", "coco-panoptic", "--annotations", str(ann), "-j", "2", "-q"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    for i in range(3):
        assert read_png(tmp_path / "o" / f"copy{i}" / "000000000139.png")[1].tolist() == [[1, 200], [44, 255]]


def test_coco_categories_name_the_ids_in_check_and_extract_palette(tmp_path):
    from maskcli.palette import load_palette

    ann, data = _panoptic(tmp_path)
    data["categories"][0]["color"] = [220, 20, 60]
    ann.write_text(json.dumps(data))
    result = invoke("check", tmp_path / "pan", "--encoding", "coco-panoptic", "--annotations", ann)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()[:1].isdigit()}
    assert "person" in lines["1"] and "rug-merged" in lines["200"] and "(ignore)" in lines["255"]
    out = tmp_path / "coco.yaml"
    result = invoke("extract-palette", tmp_path / "pan", "--encoding", "coco-panoptic", "--annotations", ann,
                    "--categories", "contiguous", "-o", out)
    assert result.exit_code == 0, result.output
    palette = load_palette(str(out))
    assert [(c.id, c.name) for c in palette.classes] == [(0, "person"), (1, "bottle"), (2, "rug-merged")]
    assert palette.classes[0].color == (220, 20, 60) and palette.ignore_index == 255


# bdd100k/label/label.py `labels`: (name, id, color) for a sample, typed from that file.
BDD_PANSEG = [("unlabeled", 0, (0, 0, 0)), ("dynamic", 1, (111, 74, 0)), ("ground", 3, (81, 0, 81)),
              ("road", 7, (128, 64, 128)), ("garage", 12, (180, 100, 180)), ("lane divider", 18, (255, 165, 0)),
              ("parking sign", 19, (220, 20, 60)), ("polegroup", 21, (153, 153, 153)),
              ("traffic sign frame", 27, (250, 170, 250)), ("person", 31, (220, 20, 60)), ("car", 35, (0, 0, 142)),
              ("trailer", 38, (0, 0, 110)), ("truck", 40, (0, 0, 70))]


def test_bdd100k_panseg_palette_matches_label_py_and_the_real_bitmasks(corpus, tmp_path):
    from maskcli.palette import load_palette

    palette = load_palette("bdd100k-panseg")
    assert [c.id for c in palette.classes] == list(range(41)) and palette.ignore_index == 255
    by_id = {c.id: (c.name, c.color) for c in palette.classes}
    for name, cid, color in BDD_PANSEG:
        assert by_id[cid] == (name, color)
    srcs = [corpus / p for p in BDD_BITMASKS[1:]]  # the two pan_seg bitmasks
    result = invoke("check", *srcs, "--encoding", "bdd100k-bitmask", "-p", "bdd100k-panseg")
    assert result.exit_code == 0, result.output
    assert "vegetation" in result.output and "car" in result.output


def test_unknown_ignore_writes_values_the_palette_lacks_as_its_ignore_index(tmp_path):
    write_png(tmp_path / "a.png", np.array([[13 * 256 + 1, 70 * 256]], np.uint16))
    failed = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "--encoding", "mapillary-instance",
                    "-p", "mapillary-v1.2")
    assert failed.exit_code == 1 and "1 index value not in the palette: 70 (1 px)" in failed.output
    result = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "--encoding", "mapillary-instance",
                    "-p", "mapillary-v1.2", "--unknown", "ignore")
    assert result.exit_code == 0, result.output
    assert read_png(tmp_path / "o.png")[1].tolist() == [[13, 65]]  # 65: mapillary-v1.2's ignore index
    assert "ignored" in result.output


def test_ade20k_instances_match_the_datasets_own_instance_mask(corpus, tmp_path):
    folder = corpus / ADE
    result = invoke("to-index", folder / "ADE_train_00016869_seg.png", "-o", tmp_path / "ids.png",
                    "--encoding", "ade20k-full", "--instances", tmp_path / "inst")
    assert result.exit_code == 0, result.output
    _, inst = read_png(tmp_path / "inst" / "ids.png")
    _, ids = read_png(tmp_path / "ids.png")
    visible = np.asarray(Image.open(folder / "ADE_train_00016869/instance_000_ADE_train_00016869.png")) == 255
    value = int(np.unique(inst[visible])[0])  # object 0 (a traffic light) is one instance value ...
    assert np.unique(inst[visible]).size == 1
    assert ((inst == value) == visible).all()  # ... found nowhere else
    assert (ids[visible] == 2836).all()  # and its JSON name_ndx


def test_a_16_bit_rgb_tiff_is_never_cut_to_8_bits_for_an_encoding(tmp_path):
    from test_decode import tiff_bytes

    (tmp_path / "a.tif").write_bytes(tiff_bytes([np.full((2, 2, 3), 300, np.uint16)]))
    result = invoke("to-index", tmp_path / "a.tif", "-o", tmp_path / "o.png", "--encoding", "ade20k-full")
    assert result.exit_code == 1
    assert "encoded label images are 8 bits per channel" in result.output
    assert not (tmp_path / "o.png").exists()
