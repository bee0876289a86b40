"""The dataset palettes built into maskcli (palettes/*.yaml), checked against the published
definitions (values typed here from those definitions, not read back from the YAML files) and,
where ../shared/corpus has real masks or lookup tables, against those files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import maskcli
from maskcli.convert import index_to_rgb, palettized_to_index, rgb_to_index
from maskcli.errors import UnknownColorsError

from conftest import read_png

BLACK = (0, 0, 0)

# name: (class count, sorted class ids, ignore_index, ignore colors)
EXPECTED = {
    "cityscapes-labelids": (34, list(range(34)), 255, ()),
    "gta5": (35, list(range(35)), 255, ()),
    "ade20k": (150, list(range(1, 151)), 0, (BLACK,)),
    "camvid": (31, [*range(30), 31], 30, (BLACK,)),
    "camvid-11": (11, list(range(11)), 11, (BLACK,)),
    "mapillary-v1.2": (65, list(range(65)), 65, (BLACK,)),
    "mapillary-v2.0": (123, list(range(123)), 123, (BLACK,)),
    "coco-stuff": (182, list(range(182)), 255, (BLACK,)),
    "loveda": (7, list(range(1, 8)), 0, (BLACK,)),
    "isprs": (6, list(range(6)), 255, (BLACK,)),
    "bdd100k": (19, list(range(19)), 255, (BLACK,)),
}


def by_name(palette):
    return {c.name: c for c in palette.classes}


def colors_by_name(palette):
    return {c.name: c.color for c in palette.classes}


def decode(palette):
    return dict(palette.decode_pairs())


def shared_ids(palette):
    """{color: [ids]} for the colors several classes share."""
    return {color: [c.id for c in cs] for color, cs in palette.shared_colors().items()}


# --------------------------------------------------------------------------- every new built-in


def test_all_new_builtins_are_listed():
    assert set(EXPECTED) <= set(maskcli.builtin_palettes())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_loads_with_the_documented_ids_and_ignore(name):
    count, ids, ignore_index, ignore_colors = EXPECTED[name]
    p = maskcli.load_palette(name)
    assert p.name == name and p.builtin
    assert p.description and p.source
    assert len(p.classes) == count
    assert sorted(c.id for c in p.classes) == ids
    assert [c.id for c in p.classes] == ids  # listed in id order
    assert p.ignore_index == ignore_index
    assert p.ignore_colors == ignore_colors
    assert len({c.name for c in p.classes}) == count  # names are unique
    assert p.bits == 8


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_id_round_trips_through_colors_except_documented_shared_colors(name):
    """to-rgb then to-index gives every id back, unless its color is shared: then the first
    class listed with that color, as the file documents."""
    p = maskcli.load_palette(name)
    values = np.array([[c.id for c in p.classes] + [p.ignore_index]], dtype=np.uint16)
    rgb = index_to_rgb(values, p)
    back = rgb_to_index(rgb, p)
    first_holder = {}
    for c in p.classes:
        first_holder.setdefault(c.color, c.id)
    # ignore is written as the first ignore color (black when there is none); when a class has
    # that color (cityscapes-labelids, gta5: unlabeled is black) it reads back as that class
    ignore_back = first_holder.get(p.ignore_color, p.ignore_index)
    expected = [first_holder[c.color] for c in p.classes] + [ignore_back]
    assert back[0].tolist() == expected
    if p.ignore_colors:
        assert ignore_back == p.ignore_index


# --------------------------------------------------------------------------- Cityscapes label ids, GTA5

# cityscapesScripts helpers/labels.py: (name, id, color) for a sample of labels.
CITYSCAPES_LABELS = [
    ("unlabeled", 0, (0, 0, 0)), ("static", 4, (0, 0, 0)), ("dynamic", 5, (111, 74, 0)),
    ("ground", 6, (81, 0, 81)), ("road", 7, (128, 64, 128)), ("sidewalk", 8, (244, 35, 232)),
    ("parking", 9, (250, 170, 160)), ("rail track", 10, (230, 150, 140)), ("building", 11, (70, 70, 70)),
    ("guard rail", 14, (180, 165, 180)), ("pole", 17, (153, 153, 153)), ("polegroup", 18, (153, 153, 153)),
    ("traffic light", 19, (250, 170, 30)), ("traffic sign", 20, (220, 220, 0)), ("sky", 23, (70, 130, 180)),
    ("person", 24, (220, 20, 60)), ("car", 26, (0, 0, 142)), ("caravan", 29, (0, 0, 90)),
    ("trailer", 30, (0, 0, 110)), ("train", 31, (0, 80, 100)), ("bicycle", 33, (119, 11, 32)),
]
LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                  24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def test_cityscapes_labelids_matches_labels_py():
    p = maskcli.load_palette("cityscapes-labelids")
    classes = by_name(p)
    for name, cid, color in CITYSCAPES_LABELS:
        assert (classes[name].id, classes[name].color) == (cid, color), name
    assert "license plate" not in classes
    assert shared_ids(p) == {BLACK: [0, 1, 2, 3, 4], (153, 153, 153): [17, 18]}
    d = decode(p)
    assert d[BLACK] == 0 and d[(153, 153, 153)] == 17 and d[(0, 0, 142)] == 26
    assert (20, 20, 20) not in d  # GTA5's static color belongs to -p gta5


def test_gta5_is_cityscapes_label_ids_with_its_own_static_and_license_plate():
    p = maskcli.load_palette("gta5")
    classes = by_name(p)
    for name, cid, color in CITYSCAPES_LABELS:
        expected = (20, 20, 20) if name == "static" else color
        assert (classes[name].id, classes[name].color) == (cid, expected), name
    assert (classes["license plate"].id, classes["license plate"].color) == (34, (0, 0, 142))
    assert shared_ids(p) == {BLACK: [0, 1, 2, 3], (153, 153, 153): [17, 18], (0, 0, 142): [26, 34]}
    assert decode(p)[(20, 20, 20)] == 4


GTA5_LABEL = "FCN-in-the-wild/data/GTA5/train/labels/00001.png"


def test_gta5_plte_entry_i_is_the_color_of_label_id_i(corpus):
    img = Image.open(corpus / GTA5_LABEL)
    plte = [tuple(int(v) for v in rgb) for rgb in np.array(img.getpalette()).reshape(-1, 3)]
    assert len(plte) == 35
    gta5 = {c.id: c.color for c in maskcli.load_palette("gta5").classes}
    labelids = {c.id: c.color for c in maskcli.load_palette("cityscapes-labelids").classes}
    assert [gta5[i] for i in range(35)] == plte
    # cityscapes-labelids differs from the GTA5 PLTE only in static (id 4)
    assert [i for i in range(34) if labelids[i] != plte[i]] == [4]


def test_gta5_palettized_label_decodes_to_its_own_label_ids(corpus):
    mask = maskcli.read_mask(corpus / GTA5_LABEL)
    assert mask.kind == "palettized"
    out = palettized_to_index(mask.array, mask.colors, maskcli.load_palette("gta5"))
    stored = mask.array.astype(np.int64)
    expected = np.where(np.isin(stored, [1, 2, 3]), 0, stored)  # ids 0..3 share black
    expected = np.where(expected == 34, 26, expected)  # license plate has car's color
    assert np.array_equal(out, expected)
    assert set(np.unique(out)) == {0, 5, 6, 7, 11, 12, 13, 15, 17, 21, 22, 23, 24, 27}


def test_gta5_label_with_static_is_refused_by_cityscapes_labelids(corpus):
    mask = maskcli.read_mask(corpus / "FCN-in-the-wild/data/GTA5/train/labels/00002.png")
    assert 4 in np.unique(mask.array)
    with pytest.raises(UnknownColorsError, match="20, 20, 20"):
        palettized_to_index(mask.array, mask.colors, maskcli.load_palette("cityscapes-labelids"))


def test_cityscapes_labelids_to_colors_then_train_ids_matches_labels_py(corpus):
    """A real frame's labelIds, colored with cityscapes-labelids and decoded with the cityscapes
    built-in, gives labels.py's train ids, and agrees with the frame's labelTrainIds file (the
    two files were downscaled separately, so a few edge pixels differ)."""
    base = corpus / "mmsegmentation/tests/data/pseudo_cityscapes_dataset/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_"
    label_ids = read_png(f"{base}labelIds.png")[1]
    train_ids = read_png(f"{base}labelTrainIds.png")[1]
    rgb = index_to_rgb(label_ids, maskcli.load_palette("cityscapes-labelids"))
    out = rgb_to_index(rgb, maskcli.load_palette("cityscapes"))
    lut = np.full(256, 255, np.uint8)
    for label, train in LABEL_TO_TRAIN.items():
        lut[label] = train
    assert np.array_equal(out, lut[label_ids])
    assert (out == train_ids).mean() > 0.995


# --------------------------------------------------------------------------- ADE20K


def test_ade20k_colors_and_the_road_skyscraper_shared_color():
    p = maskcli.load_palette("ade20k")
    classes = by_name(p)
    known = {"wall": (1, (120, 120, 120)), "building": (2, (180, 120, 120)), "sky": (3, (6, 230, 230)),
             "floor": (4, (80, 50, 50)), "tree": (5, (4, 200, 3)), "road": (7, (140, 140, 140)),
             "bed": (8, (204, 5, 255)), "person": (13, (150, 5, 61)), "car": (21, (0, 102, 200)),
             "skyscraper": (49, (140, 140, 140)), "traffic light": (137, (41, 0, 255)),
             "flag": (150, (92, 0, 255))}
    for name, (cid, color) in known.items():
        assert (classes[name].id, classes[name].color) == (cid, color), name
    assert shared_ids(p) == {(140, 140, 140): [7, 49]}
    d = decode(p)
    assert d[(140, 140, 140)] == 7 and d[BLACK] == 0


# --------------------------------------------------------------------------- CamVid

# The original CamVid label_colors.txt, in file order.
CAMVID_32 = [
    ((64, 128, 64), "Animal"), ((192, 0, 128), "Archway"), ((0, 128, 192), "Bicyclist"),
    ((0, 128, 64), "Bridge"), ((128, 0, 0), "Building"), ((64, 0, 128), "Car"),
    ((64, 0, 192), "CartLuggagePram"), ((192, 128, 64), "Child"), ((192, 192, 128), "Column_Pole"),
    ((64, 64, 128), "Fence"), ((128, 0, 192), "LaneMkgsDriv"), ((192, 0, 64), "LaneMkgsNonDriv"),
    ((128, 128, 64), "Misc_Text"), ((192, 0, 192), "MotorcycleScooter"), ((128, 64, 64), "OtherMoving"),
    ((64, 192, 128), "ParkingBlock"), ((64, 64, 0), "Pedestrian"), ((128, 64, 128), "Road"),
    ((128, 128, 192), "RoadShoulder"), ((0, 0, 192), "Sidewalk"), ((192, 128, 128), "SignSymbol"),
    ((128, 128, 128), "Sky"), ((64, 128, 192), "SUVPickupTruck"), ((0, 0, 64), "TrafficCone"),
    ((0, 64, 64), "TrafficLight"), ((192, 64, 128), "Train"), ((128, 128, 0), "Tree"),
    ((192, 128, 192), "Truck_Bus"), ((64, 0, 64), "Tunnel"), ((192, 192, 0), "VegetationMisc"),
    ((0, 0, 0), "Void"), ((64, 192, 0), "Wall"),
]


def test_camvid_is_label_colors_txt_with_id_equal_to_the_line():
    p = maskcli.load_palette("camvid")
    expected = [(i, name, color) for i, (color, name) in enumerate(CAMVID_32) if name != "Void"]
    assert [(c.id, c.name, c.color) for c in p.classes] == expected
    assert p.ignore_index == 30 and p.ignore_color == BLACK
    assert not p.shared_colors()


def test_camvid_decodes_every_line_of_a_label_colors_txt(corpus):
    """The corpus' label_colors.txt (the SegNet subset of CamVid's file: 11 classes + Void,
    tab-separated, some double tabs): each color decodes to the class of that name."""
    text = (corpus / "iizukak-SegNet-Tutorial/CamVid/label_colors.txt").read_text()
    p = maskcli.load_palette("camvid")
    ids = {c.name: c.id for c in p.classes}
    d = decode(p)
    lines = [line.split() for line in text.splitlines() if line.strip()]
    assert len(lines) == 12
    for r, g, b, name in lines:
        expected = p.ignore_index if name == "Void" else ids[name]
        assert d[(int(r), int(g), int(b))] == expected, name


def test_a_real_camvid_32_class_color_label_round_trips(corpus):
    rgb = np.asarray(Image.open(corpus / "maning00-BiSeNet/test_label.png").convert("RGB"))
    p = maskcli.load_palette("camvid")
    index = rgb_to_index(rgb, p)  # raises on any color outside the palette
    assert len(np.unique(index)) == 13
    assert np.array_equal(index_to_rgb(index, p), rgb)


# SegNet-Tutorial Scripts/test_segmentation_camvid.py: the 11 classes, in index order, + Unlabelled.
SEGNET_11 = [("Sky", (128, 128, 128)), ("Building", (128, 0, 0)), ("Pole", (192, 192, 128)),
             ("Road", (128, 64, 128)), ("Pavement", (60, 40, 222)), ("Tree", (128, 128, 0)),
             ("SignSymbol", (192, 128, 128)), ("Fence", (64, 64, 128)), ("Car", (64, 0, 128)),
             ("Pedestrian", (64, 64, 0)), ("Bicyclist", (0, 128, 192))]


def test_camvid_11_names_and_segnet_colors():
    p = maskcli.load_palette("camvid-11")
    assert [(c.id, c.name, c.color) for c in p.classes] == [(i, n, c) for i, (n, c) in enumerate(SEGNET_11)]
    assert by_name(p)["Pavement"].also == ((0, 0, 192),)  # CamVid's own Sidewalk color
    assert decode(p)[(0, 0, 192)] == 4
    assert p.ignore_index == 11 and p.ignore_color == BLACK


def test_camvid_11_matches_segnets_lookup_image(corpus):
    lut = np.asarray(Image.open(corpus / "SegNet-Tutorial/Scripts/camvid11.png"))
    assert lut.shape == (1, 256, 4)
    rows = [tuple(int(v) for v in lut[0, i, :3]) for i in range(12)]
    p = maskcli.load_palette("camvid-11")
    assert [c.color for c in p.classes] == rows[:11]
    assert p.ignore_color == rows[11]


def test_segnet_camvid_index_masks_round_trip(corpus):
    p = maskcli.load_palette("camvid-11")
    files = sorted((corpus / "SegNet-Tutorial/CamVid").glob("*annot/*.png"))
    assert len(files) == 5
    for path in files:
        index = read_png(path)[1]
        assert set(np.unique(index)) <= set(range(12))
        assert np.array_equal(rgb_to_index(index_to_rgb(index, p), p), index), path.name


# --------------------------------------------------------------------------- Mapillary Vistas

MAPILLARY_KNOWN = {  # config 'name': (v1.2 id, v2.0 id, color)
    "animal--bird": (0, 0, (165, 42, 42)),
    "construction--flat--road": (13, 21, (128, 64, 128)),
    "construction--structure--building": (17, 27, (70, 70, 70)),
    "human--person": (19, None, (220, 20, 60)),
    "human--person--individual": (None, 30, (220, 20, 60)),
    "nature--sky": (27, 61, (70, 130, 180)),
    "object--street-light": (44, 84, (210, 170, 100)),
    "object--support--pole": (45, 85, (153, 153, 153)),
    "object--traffic-light": (48, None, (250, 170, 30)),
    "object--traffic-light--general-single": (None, 90, (250, 170, 30)),
    "object--traffic-light--other": (None, 95, (250, 170, 30)),
    "object--vehicle--car": (55, 108, (0, 0, 142)),
    "void--ego-vehicle": (64, 120, (120, 10, 10)),
    "void--static": (None, 122, (111, 111, 0)),
}


@pytest.mark.parametrize("name, column", [("mapillary-v1.2", 0), ("mapillary-v2.0", 1)])
def test_mapillary_known_labels(name, column):
    classes = by_name(maskcli.load_palette(name))
    for label, values in MAPILLARY_KNOWN.items():
        cid, color = values[column], values[2]
        if cid is None:
            assert label not in classes
        else:
            assert (classes[label].id, classes[label].color) == (cid, color), label
    assert "void--unlabeled" not in classes  # it is the ignore value, not a class


def test_mapillary_v1_has_no_shared_colors_and_v2_documents_eleven():
    assert not maskcli.load_palette("mapillary-v1.2").shared_colors()
    shared = shared_ids(maskcli.load_palette("mapillary-v2.0"))
    assert len(shared) == 11
    assert shared[(250, 170, 30)] == [90, 91, 92, 93, 94, 95]  # the six traffic lights
    assert shared[(255, 255, 255)] == [35, 36, 45, 50, 51, 55, 56, 57, 58]
    assert shared[(0, 0, 142)] == [108, 115]  # car, vehicle group
    assert shared[(170, 170, 170)] == [15, 117]  # curb cut, water valve
    assert sum(len(ids) for ids in shared.values()) == 36


@pytest.mark.parametrize(
    "name, version, labels, used",
    [("mapillary-v1.2", "v1.2", 66, [17, 44, 45]), ("mapillary-v2.0", "v2.0", 124, [27, 84, 85])],
)
def test_mapillary_pseudo_label_plte_and_indices(corpus, name, version, labels, used):
    """The mmsegmentation test label is palettized with the Vistas colors: PLTE entry i is the
    color of label i, and decoding gives back the stored label ids."""
    path = corpus / f"mmsegmentation/tests/data/pseudo_mapillary_dataset/{version}/__CRyFzoDOXn6unQ6a3DnQ.png"
    p = maskcli.load_palette(name)
    mask = maskcli.read_mask(path)
    assert mask.kind == "palettized"
    plte = [tuple(int(v) for v in rgb) for rgb in mask.colors]
    colors = {c.id: c.color for c in p.classes}
    colors[p.ignore_index] = p.ignore_color  # void--unlabeled, the last label
    assert [colors[i] for i in range(labels)] == plte[:labels]
    out = palettized_to_index(mask.array, mask.colors, p)
    assert sorted(np.unique(out).tolist()) == used
    assert np.array_equal(out, mask.array)


def test_mapillary_datumaro_toy_config_agrees_with_the_palettes(corpus):
    """datumaro's toy config_v1.2.json holds 3 labels (one of them, 'separator', a v2.0 label):
    each name has that color in whichever palette has the name."""
    config = json.loads((corpus / "datumaro/tests/assets/mapillary_vistas_dataset/config_v1.2.json").read_text())
    v1 = colors_by_name(maskcli.load_palette("mapillary-v1.2"))
    v2 = colors_by_name(maskcli.load_palette("mapillary-v2.0"))
    assert len(config["labels"]) == 3
    for label in config["labels"]:
        color = tuple(label["color"])
        assert label["name"] in v2 and v2[label["name"]] == color
        if label["name"] in v1:
            assert v1[label["name"]] == color
    assert "construction--barrier--separator" not in v1


# --------------------------------------------------------------------------- COCO-Stuff


def voc_colormap(i):
    """PASCAL VOC's bit-interleaving colormap, entry i (computed here independently)."""
    r = g = b = 0
    for j in range(8):
        r |= ((i >> 0) & 1) << (7 - j)
        g |= ((i >> 1) & 1) << (7 - j)
        b |= ((i >> 2) & 1) << (7 - j)
        i >>= 3
    return (r, g, b)


COCO_UNUSED = {11: "street sign", 25: "hat", 28: "shoe", 29: "eye glasses", 44: "plate", 65: "mirror",
               67: "window", 68: "desk", 70: "door", 82: "blender", 90: "hair brush"}


def test_coco_stuff_names_from_labels_txt_and_voc_colors():
    p = maskcli.load_palette("coco-stuff")
    names = {c.id: c.name for c in p.classes}
    known = {0: "person", 1: "bicycle", 2: "car", 12: "stop sign", 62: "couch", 71: "tv", 89: "toothbrush",
             91: "banner", 95: "building-other", 148: "road", 156: "sky-other", 168: "tree", 181: "wood"}
    for cid, name in {**known, **COCO_UNUSED}.items():
        assert names[cid] == name, cid
    assert [c.color for c in p.classes] == [voc_colormap(k + 1) for k in range(182)]
    assert len({c.color for c in p.classes}) == 182 and BLACK not in {c.color for c in p.classes}
    assert p.ignore_index == 255 and p.ignore_color == voc_colormap(0)


# --------------------------------------------------------------------------- LoveDA, ISPRS, BDD100K


def test_loveda_colors():
    p = maskcli.load_palette("loveda")
    expected = [(1, "background", (255, 255, 255)), (2, "building", (255, 0, 0)), (3, "road", (255, 255, 0)),
                (4, "water", (0, 0, 255)), (5, "barren", (159, 129, 183)), (6, "forest", (0, 255, 0)),
                (7, "agricultural", (255, 195, 128))]
    assert [(c.id, c.name, c.color) for c in p.classes] == expected
    assert decode(p)[BLACK] == 0


def test_loveda_masks_round_trip(corpus):
    p = maskcli.load_palette("loveda")
    for path in sorted((corpus / "mmsegmentation/tests/data/pseudo_loveda_dataset/ann_dir").glob("*.png")):
        index = read_png(path)[1]
        rgb = index_to_rgb(index, p)
        assert np.array_equal(rgb_to_index(rgb, p), index)
        assert np.array_equal(rgb[index == 1], np.full(((index == 1).sum(), 3), 255, np.uint8))


def test_isprs_colors_and_boundary():
    p = maskcli.load_palette("isprs")
    expected = [(0, "impervious surfaces", (255, 255, 255)), (1, "building", (0, 0, 255)),
                (2, "low vegetation", (0, 255, 255)), (3, "tree", (0, 255, 0)), (4, "car", (255, 255, 0)),
                (5, "clutter", (255, 0, 0))]
    assert [(c.id, c.name, c.color) for c in p.classes] == expected
    assert decode(p)[BLACK] == 255


def test_bdd100k_is_cityscapes_train_ids():
    p = maskcli.load_palette("bdd100k")
    cityscapes = maskcli.load_palette("cityscapes")
    assert [(c.id, c.name, c.color) for c in p.classes] == [(c.id, c.name, c.color) for c in cityscapes.classes]
    classes = by_name(p)
    assert (classes["road"].id, classes["road"].color) == (0, (128, 64, 128))
    assert (classes["car"].id, classes["car"].color) == (13, (0, 0, 142))
    assert (classes["bicycle"].id, classes["bicycle"].color) == (18, (119, 11, 32))
    assert p.ignore_index == 255 and decode(p)[BLACK] == 255
    assert (111, 74, 0) not in decode(p)  # other Cityscapes label colors are not accepted


def test_bdd100k_real_semseg_mask(corpus):
    index = read_png(corpus / "bdd100k/tests/label/testcases/semseg_mask.png")[1]
    p = maskcli.load_palette("bdd100k")
    rgb = index_to_rgb(index, p)
    assert {tuple(c) for c in np.unique(rgb.reshape(-1, 3), axis=0)} == {(0, 0, 142), BLACK}
    assert np.array_equal(rgb_to_index(rgb, p), index)
