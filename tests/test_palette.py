import numpy as np
import pytest
from PIL import Image

from maskcli.errors import PaletteError
from maskcli.palette import Palette, builtin_palettes, load_palette, palette_to_yaml, parse_palette_text


def load_text(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_palette(path)


def error_of(tmp_path, text):
    with pytest.raises(PaletteError) as info:
        load_text(tmp_path, text)
    return str(info.value)


def test_the_documented_form_loads(tmp_path):
    p = load_text(
        tmp_path,
        """
name: my-dataset
ignore_index: 255
ignore_colors: [[224, 224, 192]]
classes:
  - {id: 0, name: background, color: [0, 0, 0]}
  - {id: 1, name: road, color: "#804080", also: [[128, 64, 129]]}
  - {name: car, color: "#00008E"}
""",
    )
    assert p.name == "my-dataset"
    assert [c.id for c in p.classes] == [0, 1, 2]  # id defaults to the position
    assert p.classes[1].color == (128, 64, 128)
    assert p.classes[1].also == ((128, 64, 129),)
    assert p.classes[2].color == (0, 0, 142)  # hex in any case
    assert p.ignore_colors == ((224, 224, 192),)
    assert p.bits == 8
    assert p.decode_pairs() == [
        ((0, 0, 0), 0), ((128, 64, 128), 1), ((128, 64, 129), 1), ((0, 0, 142), 2), ((224, 224, 192), 255)
    ]


def test_bit_depth_follows_the_palette_not_the_image(tmp_path):
    base = "classes:\n  - {id: 0, name: a, color: [0, 0, 0]}\n"
    assert load_text(tmp_path, base).bits == 8
    assert load_text(tmp_path, base + "  - {id: 255, name: b, color: [1, 1, 1]}\nignore_index: 300\n").bits == 16
    assert load_text(tmp_path, "ignore_index: 256\n" + base).bits == 16
    assert load_text(tmp_path, base + "  - {id: 300, name: b, color: [1, 1, 1]}\n").bits == 16


@pytest.mark.parametrize(
    "text, expected",
    [
        ("classes:\n  - {id: 0, name: a, color: [0,0,0]}\n  - {id: 0, name: b, color: [1,1,1]}\n",
         "classes[1] ('b'): id 0 is already used by 'a'"),
        ("classes:\n  - {id: 255, name: a, color: [0,0,0]}\n", "classes[0] ('a'): id 255 is the ignore_index"),
        ("classes:\n  - {id: 0, name: a, color: [0,300,0]}\n", "classes[0] ('a'): color channel 300 is outside 0..255"),
        ("classes:\n  - {id: 70000, name: a, color: [0,0,0]}\n", "classes[0] ('a'): id 70000 is outside 0..65535"),
        ("classes:\n  - {id: -1, name: a, color: [0,0,0]}\n", "id -1 is outside 0..65535"),
        ("classes:\n  - {id: 0, name: a}\n", "classes[0] ('a'): missing key 'color'"),
        ("classes:\n  - {id: 0, color: [0,0,0]}\n", "classes[0]: missing key 'name'"),
        ("classes:\n  - {id: 0, name: a, colour: [0,0,0]}\n", "classes[0] ('a'): unknown key 'colour'"),
        ("classes: []\n", "'classes' must be a non-empty list"),
        ("name: x\n", "missing key 'classes'"),
        ("classes:\n  - {id: 0, name: a, color: [1,2,3], also: [[1,2,3]]}\n", "color (1, 2, 3) is listed twice"),
        ("classes:\n  - {id: 0, name: a, color: [1,2,3], also: [[4,5,6], [4,5,6]]}\n", "color (4, 5, 6) is listed twice"),
        ("classes:\n  - {id: 0, name: a, color: '#12345'}\n", "color '#12345' is not '#rrggbb' or [r, g, b]"),
        ("classes:\n  - {id: 0, name: a, color: [1, 2]}\n", "is not '#rrggbb' or [r, g, b]"),
        ("classes:\n  - {id: 0, name: a, color: [1.5, 2, 3]}\n", "color channel 1.5 is not an integer"),
        ("classes:\n  - {id: true, name: a, color: [1, 2, 3]}\n", "id True is not an integer"),
        ("ignore_index: 70000\nclasses:\n  - {name: a, color: [1,2,3]}\n", "ignore_index 70000 is outside 0..65535"),
        ("ignore_colors: [[1,2,3]]\nclasses:\n  - {name: a, color: [1,2,3]}\n",
         "ignore color (1, 2, 3) is also the color of class 0 'a'"),
        ("colors: []\nclasses:\n  - {name: a, color: [1,2,3]}\n", "unknown key 'colors'"),
        ("classes: [\n", "not valid YAML"),
        ("classes:\n  - {name: a, color: [1,2,3], color: [4,5,6]}\n", "duplicate key 'color'"),
        ("- just a list\n", "a palette is a mapping with a 'classes' list"),
        ("classes:\n  - !!python/object/apply:os.system ['true']\n",
             "line 2, column 5: tags (!!python/object/apply:os.system) are not supported in palette files"),
    ],
)
def test_validation_messages_name_the_file_and_the_entry(tmp_path, text, expected):
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path / "p.yaml") + ": ")
    assert expected in message


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(PaletteError, match="no such palette file"):
        load_palette(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PaletteError, match="not a text file"):
        load_palette(tmp_path / "bin.yaml")


def test_unknown_builtin_lists_the_builtins():
    with pytest.raises(PaletteError) as info:
        load_palette("cityscape")
    assert "unknown palette 'cityscape'" in str(info.value)
    assert "cityscapes" in str(info.value) and "pascal-voc" in str(info.value)


def test_shared_colors_are_allowed_first_class_wins_and_reported(tmp_path):
    p = load_text(
        tmp_path,
        "classes:\n  - {name: road, color: [1,2,3]}\n  - {name: skyscraper, color: [1,2,3]}\n"
        "  - {name: car, color: [4,5,6]}\n",
    )
    assert dict(p.decode_pairs())[(1, 2, 3)] == 0
    message = p.shared_colors_message()
    assert "(1, 2, 3) -> 0 'road', 1 'skyscraper'" in message
    assert (4, 5, 6) not in p.shared_colors()


def test_yaml_writer_round_trips(tmp_path):
    p = load_text(
        tmp_path,
        "name: 'odd: name'\nignore_index: 300\nignore_colors: [[9,9,9]]\nclasses:\n"
        "  - {id: 4, name: 'yes', color: [1,2,3], also: [[7,7,7]], pixels: 10, files: 2}\n"
        "  - {id: 7, name: \"quote \\\" and: colon\", color: [4,5,6]}\n",
    )
    again = parse_palette_text(palette_to_yaml(p, header="a\nb"), "again.yaml")
    assert again == p


def test_builtins_ship_and_validate():
    names = set(builtin_palettes())
    assert {"cityscapes", "pascal-voc"} <= names
    for name in names:
        p = load_palette(name)
        assert p.builtin and p.description and p.source


def test_cityscapes_builtin_matches_the_official_train_ids():
    p = load_palette("cityscapes")
    assert [c.id for c in p.classes] == list(range(19))
    by_name = {c.name: c for c in p.classes}
    assert by_name["road"].color == (128, 64, 128)
    assert by_name["sky"].color == (70, 130, 180)
    assert by_name["person"].color == (220, 20, 60)
    assert by_name["bicycle"].color == (119, 11, 32)
    assert p.ignore_index == 255
    assert p.ignore_color == (0, 0, 0)  # to-rgb writes ignore as black
    assert (20, 20, 20) in p.ignore_colors  # GTA5 'static'
    assert len(p.ignore_colors) == 11


def voc_colormap(n=256):
    """The VOC devkit's bit-interleaving colormap, computed independently of the YAML file."""
    cmap = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap.append((r, g, b))
    return cmap


def test_pascal_voc_builtin_matches_the_devkit_colormap():
    p = load_palette("pascal-voc")
    cmap = voc_colormap()
    assert [(c.id, c.color) for c in p.classes] == [(i, cmap[i]) for i in range(21)]
    assert p.ignore_index == 255 and p.ignore_colors == ((224, 224, 192),)
    assert cmap[255] == (224, 224, 192)
    assert p.classes[15].name == "person"


def test_cityscapes_builtin_decodes_every_gta5_plte_color(corpus):
    """GTA5 labels store Cityscapes label ids with a PLTE of the labels.py colors: each label
    whose train id is a class must decode to that class; every other one to ignore."""
    label_to_train = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                      24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
    img = Image.open(corpus / "FCN-in-the-wild/data/GTA5/train/labels/00001.png")
    plte = np.array(img.getpalette()).reshape(-1, 3)
    decode = dict(load_palette("cityscapes").decode_pairs())
    for label_id in range(34):
        color = tuple(int(v) for v in plte[label_id])
        expected = label_to_train.get(label_id, 255)
        if label_id == 18:  # polegroup shares pole's color: decodes to pole
            expected = 5
        assert decode[color] == expected, (label_id, color)


def test_palette_is_hashable_and_frozen():
    p = load_palette("pascal-voc")
    assert hash(p) == hash(load_palette("pascal-voc"))
    with pytest.raises(Exception):
        p.name = "x"
    assert isinstance(p, Palette)
