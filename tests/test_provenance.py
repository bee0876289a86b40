"""--update knows what made an output: a record (command, palette content, options) inside
each output PNG, compared on the next run; `maskcli info` shows it."""

import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import read_png, write_png
from test_remote import s3  # noqa: F401  (the S3 API on loopback, a fixture)
import maskcli
from maskcli import provenance
from maskcli.cli import cli
from maskcli.palette import load_palette
from maskcli.tasks import Settings

ROAD, CAR = (128, 64, 128), (0, 0, 142)
PALETTE = "classes:\n  - {id: 0, name: road, color: [128, 64, 128]}\n  - {id: 1, name: car, color: [0, 0, 142]}\n"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def age(path, seconds=1000):
    t = time.time() - seconds
    os.utime(path, (t, t))


def make_masks(folder, n=3):
    """Color masks (road and car), aged so that any output written now is newer."""
    for i in range(n):
        rgb = np.full((4, 6, 3), ROAD, np.uint8)
        rgb[: i + 1, :2] = CAR
        age(write_png(folder / f"m{i}.png", rgb))
    return folder


def statuses(result):
    assert result.exit_code == 0, result.stderr
    return [f["status"] for f in json.loads(result.stdout)["files"]]


def run(src, out, *options):
    return invoke("to-index", src, "-o", out, "--update", "--report", "-", *options)


CITY = ("-p", "cityscapes")
NEAREST = (*CITY, "--unknown", "nearest", "--max-distance", "10")
CHANGES = {  # option: (a run's options, the same with that option changed)
    "format": (CITY, (*CITY, "--format", "indexed")),
    "unknown": (CITY, (*CITY, "--unknown", "ignore")),
    "max-distance": (NEAREST, (*CITY, "--unknown", "nearest", "--max-distance", "20")),
    "beyond": (NEAREST, (*NEAREST, "--beyond", "ignore")),
    "alpha": (CITY, (*CITY, "--alpha", "ignore")),
    "palette": (CITY, ("-p", "pascal-voc", "--unknown", "ignore")),
    "channel-order": ((*CITY, "--unknown", "ignore"), (*CITY, "--unknown", "ignore", "--channel-order", "bgr")),
}


@pytest.mark.parametrize("name", CHANGES)
def test_changing_an_output_option_reconverts_and_an_unchanged_rerun_skips(tmp_path, name):
    before, after = CHANGES[name]
    src, out = make_masks(tmp_path / "m"), tmp_path / "out"
    assert statuses(run(src, out, *before)) == ["converted"] * 3
    assert statuses(run(src, out, *before)) == ["skipped"] * 3
    assert statuses(run(src, out, *after)) == ["converted"] * 3
    assert statuses(run(src, out, *after)) == ["skipped"] * 3
    assert statuses(run(src, out, *before)) == ["converted"] * 3  # and back again
    if name == "format":
        assert read_png(out / "m0.png")[0] == "L"
        invoke("to-index", src, "-o", out, "-p", "cityscapes", "--format", "indexed", "--update", "-q")
        assert read_png(out / "m0.png")[0] == "P"


def test_output_affecting_options_make_different_digests():
    palette = load_palette("cityscapes")
    variants = [
        Settings("to-index", palette),
        Settings("to-index", palette, format="indexed"),
        Settings("to-index", palette, unknown="ignore"),
        Settings("to-index", palette, unknown="nearest", max_distance=10.0),
        Settings("to-index", palette, unknown="nearest", max_distance=20.0),
        Settings("to-index", palette, unknown="nearest", max_distance=10.0, beyond="ignore"),
        Settings("to-index", palette, alpha="ignore"),
        Settings("to-index", palette, channel_order="bgr"),
        Settings("to-index", None),
        Settings("to-rgb", palette),
    ]
    digests = [s.digest() for s in variants]
    assert len(set(digests)) == len(digests)
    assert Settings("to-index", palette, verbose=True).digest() == variants[0].digest()


def test_a_new_settings_field_is_in_the_digest_without_touching_provenance():
    @dataclasses.dataclass(frozen=True)
    class MoreSettings(Settings):
        dither: str = "none"

    palette = load_palette("cityscapes")
    plain = Settings("to-index", palette).digest()
    assert MoreSettings("to-index", palette).digest() == plain  # at its default: old outputs stay current
    assert MoreSettings("to-index", palette, dither="fs").digest() != plain
    assert provenance.record(MoreSettings("to-index", palette, dither="fs"))["options"] == {"dither": "fs"}


def test_an_edited_palette_file_with_an_old_mtime_reconverts(tmp_path):
    src, out = make_masks(tmp_path / "m"), tmp_path / "out"
    palette = tmp_path / "p.yaml"
    palette.write_text(PALETTE)
    age(palette, 5000)
    assert statuses(run(src, out, "-p", palette)) == ["converted"] * 3
    assert read_png(out / "m0.png")[1][0, 0] == 1  # car
    palette.write_text(PALETTE.replace("id: 1, name: car", "id: 7, name: car"))
    age(palette, 5000)  # older than every output: only its content says it changed
    assert statuses(run(src, out, "-p", palette)) == ["converted"] * 3
    assert read_png(out / "m0.png")[1][0, 0] == 7
    palette.write_text(PALETTE.replace("id: 1, name: car", "id: 7, name: automobile") + "description: renamed\n")
    assert statuses(run(src, out, "-p", palette)) == ["skipped"] * 3  # names and a newer mtime change nothing


def test_a_builtin_and_an_identical_file_give_the_same_digest(tmp_path):
    src, out = make_masks(tmp_path / "m"), tmp_path / "out"
    assert invoke("palettes", "convert", "cityscapes", tmp_path / "copy.yaml").exit_code == 0
    assert statuses(run(src, out, "-p", "cityscapes")) == ["converted"] * 3
    assert statuses(run(src, out, "-p", tmp_path / "copy.yaml")) == ["skipped"] * 3
    assert (Settings("to-index", load_palette("cityscapes")).digest()
            == Settings("to-index", load_palette(str(tmp_path / "copy.yaml"))).digest())


def remap_run(src, out, mapping, command="remap"):
    return invoke(command, src, "-o", out, "--map", mapping, "--update", "--report", "-")


def test_an_edited_map_with_an_old_mtime_reconverts(tmp_path):
    age(write_png(tmp_path / "i/a.png", np.array([[0, 1]], np.uint8)))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("map: {0: 5, 1: 6}\n")
    age(mapping, 5000)
    assert statuses(remap_run(tmp_path / "i", tmp_path / "o", mapping)) == ["converted"]
    assert statuses(remap_run(tmp_path / "i", tmp_path / "o", mapping)) == ["skipped"]
    mapping.write_text("map: {0: 7, 1: 8}\n")
    age(mapping, 5000)
    assert statuses(remap_run(tmp_path / "i", tmp_path / "o", mapping)) == ["converted"]
    assert read_png(tmp_path / "o/a.png")[1].tolist() == [[7, 8]]


def test_a_different_command_into_the_same_outputs_reconverts(tmp_path):
    age(write_png(tmp_path / "i/a.png", np.array([[0, 13]], np.uint8)))
    (tmp_path / "m.yaml").write_text("map: {0: 1, 13: 2}\n")
    first = invoke("to-rgb", tmp_path / "i", "-o", tmp_path / "o", "-p", "cityscapes", "--update", "--report", "-")
    assert statuses(first) == ["converted"]
    assert read_png(tmp_path / "o/a.png")[0] == "RGB"
    assert statuses(remap_run(tmp_path / "i", tmp_path / "o", tmp_path / "m.yaml")) == ["converted"]
    assert read_png(tmp_path / "o/a.png")[1].tolist() == [[1, 2]]


def test_outputs_without_a_record_are_converted_again_once(tmp_path):
    src, out = make_masks(tmp_path / "m", n=2), tmp_path / "out"
    for i in range(2):  # what round one wrote: the right pixels, newer than the input, no record
        write_png(out / f"m{i}.png", np.zeros((4, 6), np.uint8))
    assert statuses(run(src, out, "-p", "cityscapes")) == ["converted"] * 2
    assert statuses(run(src, out, "-p", "cityscapes")) == ["skipped"] * 2


def test_a_damaged_record_is_not_trusted(tmp_path):
    src, out = make_masks(tmp_path / "m", n=1), tmp_path / "out"
    run(src, out, "-p", "cityscapes")
    data = bytearray((out / "m0.png").read_bytes())
    at = data.index(b'"command"')
    data[at + 1] = ord("C")  # the CRC no longer matches
    (out / "m0.png").write_bytes(bytes(data))
    assert statuses(run(src, out, "-p", "cityscapes")) == ["converted"]


def test_the_record_sits_right_after_ihdr_and_readers_ignore_it(tmp_path):
    src, out = make_masks(tmp_path / "m", n=1), tmp_path / "out"
    invoke("to-index", src, "-o", out, "-p", "cityscapes", "--format", "indexed")
    data = (out / "m0.png").read_bytes()
    assert data[37:41] == b"tEXt" and data[41:49] == b"maskcli\0"
    img = Image.open(out / "m0.png")
    assert img.mode == "P" and json.loads(img.info["maskcli"])["options"] == {"format": "indexed"}
    assert np.asarray(img)[0, 0] == 13


def test_update_is_the_same_whatever_jobs_and_outputs_are_byte_identical(tmp_path):
    src = tmp_path / "m"
    for i in range(6):
        rgb = np.full((8, 8, 3), ROAD, np.uint8)
        rgb[i:, :3] = CAR
        age(write_png(src / f"s{i % 2}/m{i}.png", rgb))
    for jobs in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "maskcli", "to-index", str(src), "-o", str(tmp_path / f"j{jobs}"),
                               "-p", "cityscapes", "--format", "indexed", "-j", jobs],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    files = sorted(p.relative_to(tmp_path / "j1") for p in (tmp_path / "j1").rglob("*.png"))
    assert len(files) == 6
    for rel in files:
        assert (tmp_path / "j1" / rel).read_bytes() == (tmp_path / "j2" / rel).read_bytes()
    info = [json.loads(line) for line in invoke("info", tmp_path / "j2", "--json").stdout.splitlines()]
    assert {i["record"]["digest"] for i in info} == {
        Settings("to-index", load_palette("cityscapes"), format="indexed").digest()}
    again = subprocess.run([sys.executable, "-m", "maskcli", "to-index", str(src), "-o", str(tmp_path / "j1"),
                            "-p", "cityscapes", "--format", "indexed", "-j", "2", "--update"],
                           capture_output=True, text=True, timeout=120)
    assert "0 converted, 6 up to date, 0 failed" in again.stderr


def test_info_says_what_made_each_file(tmp_path):
    src, out = make_masks(tmp_path / "m", n=1), tmp_path / "out"
    invoke("to-index", src, "-o", out, "-p", "cityscapes", "--unknown", "nearest", "--max-distance", "30", "--beyond", "ignore")
    result = invoke("info", out / "m0.png", src / "m0.png")
    assert result.exit_code == 0
    made, other = result.stdout.splitlines()
    digest = Settings("to-index", load_palette("cityscapes"), unknown="nearest", max_distance=30.0, beyond="ignore").digest()
    assert made.startswith(f"{out / 'm0.png'}: maskcli to-index -p cityscapes --beyond ignore --max-distance 30.0 "
                           "--unknown nearest (palette sha256:")
    assert made.endswith(f"; maskcli {maskcli.__version__}; digest {digest})")
    assert other == f"{src / 'm0.png'}: not written by maskcli (no record of what made it; --update converts it again)"


def test_info_errors_and_special_files(tmp_path):
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "text.png").write_text("not a png")
    done = subprocess.run([sys.executable, "-m", "maskcli", "info", str(tmp_path / "gone.png"),
                           str(tmp_path / "fifo.png"), str(tmp_path / "text.png")],
                          capture_output=True, text=True, timeout=120)  # a FIFO must not block it
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: {tmp_path / 'gone.png'}: cannot read: No such file or directory"
    assert done.stdout.splitlines() == [
        f"{tmp_path / 'fifo.png'}: not written by maskcli (no record of what made it; --update converts it again)",
        f"{tmp_path / 'text.png'}: not written by maskcli (no record of what made it; --update converts it again)",
    ]
    missing = invoke("info", tmp_path / "absent.png")
    assert missing.exit_code == 2 and "no such file or folder" in missing.stderr


def test_remote_outputs_are_checked_by_their_record(tmp_path):
    pytest.importorskip("fsspec", reason="needs fsspec for memory:// URLs")
    import fsspec

    fs = fsspec.filesystem("memory")
    base = f"memory://prov-{os.getpid()}-{time.monotonic_ns()}"
    for i in range(2):
        write_png(tmp_path / f"m{i}.png", np.full((4, 4, 3), ROAD, np.uint8))
        fs.pipe_file(f"{base}/in/m{i}.png".replace("memory://", ""), (tmp_path / f"m{i}.png").read_bytes())
    time.sleep(0.01)
    args = ("to-index", f"{base}/in", "-o", f"{base}/out", "-p", "cityscapes", "-j", "1", "--update", "--report", "-")  # in-process: one memory store
    assert statuses(invoke(*args)) == ["converted"] * 2
    assert statuses(invoke(*args)) == ["skipped"] * 2
    assert statuses(invoke(*args, "--format", "indexed")) == ["converted"] * 2
    info = invoke("info", f"{base}/out/m0.png")
    assert info.exit_code == 0 and "maskcli to-index -p cityscapes --format indexed" in info.stdout


def test_s3_outputs_are_checked_by_a_ranged_read_of_their_record(tmp_path, s3):
    from test_remote import maskcli, png_bytes

    client, env = s3
    client.create_bucket(Bucket="prov")
    for i in range(3):
        client.put_object(Bucket="prov", Key=f"masks/m{i}.png", Body=png_bytes(i))
    time.sleep(1.1)  # one-second mtimes in S3: outputs written in their inputs' second are not newer
    args = ("to-index", "s3://prov/masks", "-o", "s3://prov/out", "-p", "cityscapes", "--update")
    assert "3 converted, 0 failed" in maskcli(*args, env=env).stderr
    assert "0 converted, 3 up to date, 0 failed" in maskcli(*args, env=env).stderr
    assert "3 converted, 0 failed" in maskcli(*args, "--format", "indexed", env=env).stderr
    assert "0 converted, 3 up to date, 0 failed" in maskcli(*args, "--format", "indexed", env=env).stderr
    info = maskcli("info", "s3://prov/out/m1.png", env=env)
    assert info.returncode == 0, info.stderr
    assert info.stdout.startswith("s3://prov/out/m1.png: maskcli to-index -p cityscapes --format indexed (")


def test_the_digest_is_read_from_a_record_in_any_key_order():
    digest = "sha256:" + "ab" * 32
    assert provenance.digest_of(b'{"digest":"' + digest.encode() + b'","command":"to-rgb"}') == digest
    assert provenance.digest_of(b'{"command":"to-rgb","digest":"' + digest.encode() + b'"}') == digest
    assert provenance.digest_of(b'{"digest":"sha256:short"}') == "sha256:short"
    assert provenance.digest_of(b"not json") is None and provenance.digest_of(None) is None


def test_info_keeps_a_strange_record_on_one_line(tmp_path):
    src, out = make_masks(tmp_path / "m", n=1), tmp_path / "out"
    palette = tmp_path / "p.yaml"
    palette.write_text('name: "two\\nlines \\u00e9"\n' + PALETTE)
    invoke("to-index", src, "-o", out, "-p", palette)
    lines = invoke("info", out / "m0.png").stdout.splitlines()
    assert len(lines) == 1 and "-p two\\nlines é " in lines[0]
    assert statuses(run(src, out, "-p", palette)) == ["skipped"]


def test_an_output_that_is_a_link_is_never_up_to_date(tmp_path):
    src, out = make_masks(tmp_path / "m", n=1), tmp_path / "out"
    invoke("to-index", src, "-o", tmp_path / "elsewhere", "-p", "cityscapes")  # a current output...
    out.mkdir()
    (out / "m0.png").symlink_to(tmp_path / "elsewhere/m0.png")  # ...reached through a link
    result = invoke("to-index", src, "-o", out, "-p", "cityscapes", "--update", "--report", "-")
    assert [f["status"] for f in json.loads(result.stdout)["files"]] == ["failed"]
    assert "symbolic link" in result.stderr and (out / "m0.png").is_symlink()
