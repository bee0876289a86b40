import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maskcli.convert import color_counts, index_to_rgb, palettized_to_index, rgb_to_index
from maskcli.errors import UnknownColorsError, UnknownIndicesError
from maskcli.palette import Palette, PaletteClass


def make_palette(entries, ignore_index=255, ignore_colors=()):
    return Palette(
        name="t",
        classes=tuple(PaletteClass(i, f"c{i}", tuple(c)) for i, c in entries),
        ignore_index=ignore_index,
        ignore_colors=tuple(ignore_colors),
    )


def naive_rgb_to_index(rgb, palette):
    """The per-class loop (in RGB), as a reference; -1 marks colors the palette lacks."""
    out = np.full(rgb.shape[:2], -1, dtype=np.int64)
    for color, value in reversed(palette.decode_pairs()):  # reversed: the first listed wins
        out[np.all(rgb == color, axis=-1)] = value
    return out


@st.composite
def palettes_and_masks(draw, big_ids=False):
    n = draw(st.integers(1, 12))
    colors = draw(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=n, max_size=n, unique=True))
    max_id = 65534 if big_ids else 254
    ids = draw(st.lists(st.integers(0, max_id), min_size=n, max_size=n, unique=True))
    ignore = 65535 if big_ids else 255
    palette = make_palette(list(zip(ids, colors)), ignore_index=ignore)
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    picks = draw(arrays(np.int64, (h, w), elements=st.integers(0, n - 1)))
    rgb = np.array(colors, dtype=np.uint8)[picks]
    return palette, rgb


@settings(max_examples=150, deadline=None)
@given(palettes_and_masks())
def test_rgb_to_index_matches_the_naive_loop_uint8(case):
    palette, rgb = case
    out = rgb_to_index(rgb, palette)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, naive_rgb_to_index(rgb, palette))
    np.testing.assert_array_equal(index_to_rgb(out, palette), rgb)  # round trip


@settings(max_examples=100, deadline=None)
@given(palettes_and_masks(big_ids=True))
def test_rgb_to_index_matches_the_naive_loop_uint16(case):
    palette, rgb = case
    out = rgb_to_index(rgb, palette)
    assert out.dtype == (np.uint16 if palette.bits == 16 else np.uint8)
    np.testing.assert_array_equal(out, naive_rgb_to_index(rgb, palette))
    np.testing.assert_array_equal(index_to_rgb(out, palette), rgb)


@settings(max_examples=100, deadline=None)
@given(palettes_and_masks(), st.tuples(*[st.integers(0, 255)] * 3), st.data())
def test_unknown_colors_error_or_ignore(case, stranger, data):
    palette, rgb = case
    if stranger in dict(palette.decode_pairs()):
        return
    h, w = rgb.shape[:2]
    y, x = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
    rgb = rgb.copy()
    rgb[y, x] = stranger
    with pytest.raises(UnknownColorsError) as info:
        rgb_to_index(rgb, palette)
    assert info.value.colors == [(stranger, 1, (x, y))]
    ignored = rgb_to_index(rgb, palette, unknown="ignore")
    expected = naive_rgb_to_index(rgb, palette)
    expected[expected == -1] = palette.ignore_index
    np.testing.assert_array_equal(ignored, expected)


def test_unknown_colors_are_listed_by_count_with_first_position():
    palette = make_palette([(0, (0, 0, 0))])
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[1, 3] = (9, 8, 7)
    rgb[2, 0:4] = (1, 2, 3)
    with pytest.raises(UnknownColorsError) as info:
        rgb_to_index(rgb, palette)
    err = info.value
    assert err.colors == [((1, 2, 3), 4, (0, 2)), ((9, 8, 7), 1, (3, 1))]
    assert err.pixels == 5
    assert str(err) == (
        "2 unknown colors on 5 px: (1, 2, 3) 4 px first at x=0 y=2; (9, 8, 7) 1 px first at x=3 y=1"
    )


def test_the_error_keeps_every_unknown_color_and_its_line_shows_three():
    palette = make_palette([(0, (0, 0, 0))])
    rgb = np.zeros((1, 30, 3), np.uint8)
    rgb[0, :, 0] = np.arange(1, 31)
    with pytest.raises(UnknownColorsError) as info:
        rgb_to_index(rgb, palette)
    assert len(info.value.colors) == 30 and info.value.total == 30
    assert str(info.value).endswith("(3, 0, 0) 1 px first at x=2 y=0; and 27 more")
    assert info.value.message(verbose=True).endswith("(30, 0, 0) 1 px first at x=29 y=0")


def test_channel_order_is_rgb():
    palette = make_palette([(1, (255, 0, 0)), (2, (0, 0, 255))])
    rgb = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    np.testing.assert_array_equal(rgb_to_index(rgb, palette), [[1, 2]])
    np.testing.assert_array_equal(index_to_rgb(np.array([[2, 1]], np.uint8), palette), rgb[:, ::-1])


def test_every_8bit_value_used_still_detects_unknown_colors():
    """ids 0..254 plus ignore 255 leave no free 8-bit value for the unknown marker."""
    entries = [(i, (i, 0, 0)) for i in range(255)]
    palette = make_palette(entries, ignore_colors=[(0, 0, 1)])
    rgb = np.array([[[7, 0, 0], [0, 0, 1], [254, 0, 0]]], np.uint8)
    out = rgb_to_index(rgb, palette)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[7, 255, 254]])
    rgb[0, 0] = (0, 5, 0)
    with pytest.raises(UnknownColorsError):
        rgb_to_index(rgb, palette)


def test_ignore_colors_decode_to_ignore_index_and_to_rgb_writes_the_first():
    palette = make_palette([(0, (10, 10, 10))], ignore_index=255, ignore_colors=[(1, 1, 1), (2, 2, 2)])
    rgb = np.array([[[10, 10, 10], [1, 1, 1], [2, 2, 2]]], np.uint8)
    out = rgb_to_index(rgb, palette)
    np.testing.assert_array_equal(out, [[0, 255, 255]])
    np.testing.assert_array_equal(index_to_rgb(out, palette), [[[10, 10, 10], [1, 1, 1], [1, 1, 1]]])
    no_ignore_color = make_palette([(0, (10, 10, 10))])
    np.testing.assert_array_equal(index_to_rgb(out, no_ignore_color)[0, 1], [0, 0, 0])


def test_index_to_rgb_rejects_values_outside_the_palette():
    palette = make_palette([(0, (0, 0, 0)), (1, (1, 1, 1))])
    index = np.array([[0, 1, 7, 7, 9]], np.uint8)
    with pytest.raises(UnknownIndicesError) as info:
        index_to_rgb(index, palette)
    assert info.value.values == [(7, 2), (9, 1)]
    assert str(info.value) == "2 index values not in the palette: 7 (2 px), 9 (1 px)"


def test_index_to_rgb_other_integer_dtypes():
    palette = make_palette([(0, (0, 0, 0)), (300, (1, 2, 3))])
    np.testing.assert_array_equal(index_to_rgb(np.array([[300, 0]], np.int32), palette), [[[1, 2, 3], [0, 0, 0]]])
    with pytest.raises(UnknownIndicesError, match=r"-1 \(1 px\)"):
        index_to_rgb(np.array([[-1, 0]], np.int32), palette)  # labelme's -1 is not 255
    with pytest.raises(UnknownIndicesError, match="70000"):
        index_to_rgb(np.array([[70000]], np.int64), palette)
    with pytest.raises(ValueError):
        index_to_rgb(np.zeros((2, 2, 3), np.uint8), palette)


def test_palettized_to_index_converts_through_the_plte():
    palette = make_palette([(0, (0, 0, 0)), (1, (128, 0, 0))], ignore_colors=[(224, 224, 192)])
    plte = np.zeros((256, 3), np.uint8)
    plte[1] = (128, 0, 0)
    plte[255] = (224, 224, 192)
    plte[7] = (1, 2, 3)  # unused entry with an unknown color: no error
    indices = np.array([[0, 1, 255]], np.uint8)
    np.testing.assert_array_equal(palettized_to_index(indices, plte, palette), [[0, 1, 255]])
    indices[0, 0] = 7
    with pytest.raises(UnknownColorsError) as info:
        palettized_to_index(indices, plte, palette)
    assert info.value.colors == [((1, 2, 3), 1, (0, 0))]


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3)), elements=st.integers(0, 3)))
def test_color_counts_matches_np_unique(rgb):
    colors, counts = color_counts(rgb)
    ref, ref_counts = np.unique(rgb.reshape(-1, 3), axis=0, return_counts=True)  # sorted by (r, g, b)
    np.testing.assert_array_equal(colors, ref)
    np.testing.assert_array_equal(counts, ref_counts)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("entries", [1, 21, 256])
def test_lookup_of_8_bit_keys_equals_take(dtype, entries):
    """8-bit keys through a table of at most 256 entries (a PLTE's values) take OpenCV's LUT:
    the same values as np.take, shifts wrap the same way, and a key past the table's end
    still raises IndexError, as np.take does."""
    from maskcli.convert import lookup

    rng = np.random.default_rng(entries)
    table = rng.integers(0, np.iinfo(dtype).max, entries, endpoint=True).astype(dtype)
    keys = rng.integers(0, entries, (37, 53)).astype(np.uint8)
    for k in (keys, keys[:, ::2], keys[:0]):  # plain, strided (no LUT), empty
        got = lookup(table, k)
        assert got.dtype == dtype and got.shape == k.shape
        assert np.array_equal(got, np.take(table, k))
    shifted = lookup(table, keys, shift=7)
    assert np.array_equal(shifted, (np.take(table, keys) + dtype(7)).astype(dtype))
    if entries < 256:
        keys[5, 9] = entries
        with pytest.raises(IndexError):
            lookup(table, keys)
