"""--images in a remote store (s3:// through the moto S3 server of test_remote.py): overlay,
sheet and check --html pair masks with remote photos exactly as with local ones.

Each remote run is compared with the same run on a local copy of the photos: the outputs must
be the same bytes (PNG) or the same pixels. Needs pip install -e '.[test,test-remote]'.
"""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from conftest import write_png
from test_remote import maskcli, s3  # noqa: F401  (the module-scoped moto S3 server fixture)

ROAD, CAR, SKY = (128, 64, 128), (0, 0, 142), (70, 130, 180)


def street(seed, size=(24, 40)):
    rng = np.random.default_rng(seed)
    rgb = np.zeros((*size, 3), np.uint8)
    rgb[: size[0] // 2] = SKY
    rgb[size[0] // 2 :] = ROAD
    x = int(rng.integers(0, size[1] - 10))
    rgb[size[0] // 2 : size[0] // 2 + 6, x : x + 10] = CAR
    rgb[-2:] = 0  # ignore strip: shows the photo
    return rgb


def photo(seed, size=(24, 40)):
    return np.random.default_rng(100 + seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def encoded(array, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def cityscapes_layout(client, bucket, tmp_path):
    """gtFine color masks (local), leftImg8bit photos both in the bucket and in a local copy;
    one mask without a photo and one with a photo of another size."""
    client.create_bucket(Bucket=bucket)
    names = [("aachen", 19), ("aachen", 20), ("bochum", 7)]
    for i, (city, n) in enumerate(names):
        stem = f"{city}_000000_{n:06d}"
        write_png(tmp_path / f"gtFine/val/{city}/{stem}_gtFine_color.png", street(i))
        fmt, ext = ("JPEG", "jpg") if i == 2 else ("PNG", "png")
        data = encoded(photo(i), fmt)
        key = f"leftImg8bit/val/{city}/{stem}_leftImg8bit.{ext}"
        client.put_object(Bucket=bucket, Key=key, Body=data)
        (tmp_path / "local" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "local" / key).write_bytes(data)
    write_png(tmp_path / "gtFine/val/bochum/bochum_000000_000099_gtFine_color.png", street(7))  # no photo
    write_png(tmp_path / "gtFine/val/bochum/bochum_000000_000050_gtFine_color.png", street(8))
    small = encoded(photo(8, (12, 20)))
    client.put_object(Bucket=bucket, Key="leftImg8bit/val/bochum/bochum_000000_000050_leftImg8bit.png", Body=small)
    (tmp_path / "local/leftImg8bit/val/bochum/bochum_000000_000050_leftImg8bit.png").write_bytes(small)


def keys(client, bucket, prefix):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_overlay_with_photos_in_a_bucket_equals_the_local_run(s3, tmp_path):  # noqa: F811
    client, env = s3
    cityscapes_layout(client, "ph1", tmp_path)
    common = ["-p", "cityscapes", "--pair", "_gtFine_color:_leftImg8bit", "--outline", "-j", 2]
    remote = maskcli("overlay", tmp_path / "gtFine/val", "--images", "s3://ph1/leftImg8bit/val",
                     "-o", tmp_path / "remote", *common, env=env)
    local = maskcli("overlay", tmp_path / "gtFine/val", "--images", tmp_path / "local/leftImg8bit/val",
                    "-o", tmp_path / "local-out", *common, env=env)
    assert remote.returncode == local.returncode == 1, remote.stderr
    assert "3 converted, 2 failed" in remote.stderr
    missing = tmp_path / "gtFine/val/bochum/bochum_000000_000099_gtFine_color.png"
    assert (f"error: {missing}: no photo for it: looked for "
            "s3://ph1/leftImg8bit/val/bochum/bochum_000000_000099_leftImg8bit.*") in remote.stderr
    small = tmp_path / "gtFine/val/bochum/bochum_000000_000050_gtFine_color.png"
    assert (f"error: {small}: is 40x24, but its photo s3://ph1/leftImg8bit/val/bochum/"
            "bochum_000000_000050_leftImg8bit.png is 20x12") in remote.stderr
    made = sorted(p.relative_to(tmp_path / "local-out") for p in (tmp_path / "local-out").rglob("*.png"))
    assert len(made) == 3
    assert sorted(p.relative_to(tmp_path / "remote") for p in (tmp_path / "remote").rglob("*.png")) == made
    for rel in made:
        assert (tmp_path / "remote" / rel).read_bytes() == (tmp_path / "local-out" / rel).read_bytes()

    # --update: up to date while the photos are older; a photo replaced in the bucket redraws its overlay
    again = maskcli("overlay", tmp_path / "gtFine/val", "--images", "s3://ph1/leftImg8bit/val",
                    "-o", tmp_path / "remote", *common, "--update", env=env)
    assert "0 converted, 3 up to date, 2 failed" in again.stderr, again.stderr
    time.sleep(1.1)  # S3 modification times have one-second resolution
    client.put_object(Bucket="ph1", Key="leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png",
                      Body=encoded(photo(42)))
    third = maskcli("overlay", tmp_path / "gtFine/val", "--images", "s3://ph1/leftImg8bit/val",
                    "-o", tmp_path / "remote", *common, "--update", env=env)
    assert "1 converted, 2 up to date, 2 failed" in third.stderr, third.stderr


def test_masks_photos_and_overlays_all_in_the_bucket(s3, tmp_path):  # noqa: F811
    client, env = s3
    client.create_bucket(Bucket="ph2")
    for i in range(2):
        client.put_object(Bucket="ph2", Key=f"voc/x{i}.png", Body=encoded(street(i)))  # masks and photos
        client.put_object(Bucket="ph2", Key=f"voc/x{i}.jpg", Body=encoded(photo(i), "JPEG"))  # in one folder
    result = maskcli("overlay", "s3://ph2/voc", "--include", "*.png", "--images", "s3://ph2/voc",
                     "-o", "s3://ph2/over", "-p", "cityscapes", "--format", "jpeg", env=env)
    assert result.returncode == 0, result.stderr
    assert keys(client, "ph2", "over/") == ["over/x0.jpg", "over/x1.jpg"]
    body = client.get_object(Bucket="ph2", Key="over/x1.jpg")["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (40, 24)
    # one mask, one remote photo, one local output
    one = maskcli("overlay", "s3://ph2/voc/x0.png", "--images", "s3://ph2/voc/x0.jpg", "-o", tmp_path / "one.png",
                  "-p", "cityscapes", env=env)
    assert one.returncode == 0, one.stderr
    assert np.asarray(Image.open(tmp_path / "one.png")).shape == (24, 40, 3)
    # an output may not replace a remote photo
    client.put_object(Bucket="ph2", Key="m/x0.png", Body=encoded(street(0)))
    client.put_object(Bucket="ph2", Key="p/x0.jpg", Body=encoded(photo(0), "JPEG"))
    before = client.get_object(Bucket="ph2", Key="p/x0.jpg")["Body"].read()
    clash = maskcli("overlay", "s3://ph2/m", "--images", "s3://ph2/p/", "-o", "s3://ph2/p", "-p", "cityscapes",
                    "--format", "jpeg", env=env)
    assert clash.returncode == 2 and "would overwrite the input s3://ph2/p/x0.jpg" in clash.stderr, clash.stderr
    assert client.get_object(Bucket="ph2", Key="p/x0.jpg")["Body"].read() == before


def test_images_that_are_not_in_the_store_are_a_usage_error(s3, tmp_path):  # noqa: F811
    client, env = s3
    client.create_bucket(Bucket="ph3")
    write_png(tmp_path / "m/a.png", street(0))
    for args in (["overlay", tmp_path / "m", "-o", tmp_path / "o", "-p", "cityscapes"],
                 ["sheet", tmp_path / "m", "-o", tmp_path / "s.png", "-p", "cityscapes"],
                 ["check", tmp_path / "m", "-p", "cityscapes", "--html", tmp_path / "r.html"]):
        result = maskcli(*args, "--images", "s3://ph3/nothing/here", env=env)
        assert result.returncode == 2, result.stderr
        assert "s3://ph3/nothing/here: no such folder" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "s.png").exists() and not (tmp_path / "r.html").exists()


def test_sheet_and_html_report_over_photos_in_a_bucket(s3, tmp_path):  # noqa: F811
    client, env = s3
    cityscapes_layout(client, "ph4", tmp_path)
    pair = ["--pair", "_gtFine_color:_leftImg8bit"]
    for where, images in (("remote", "s3://ph4/leftImg8bit/val"), ("local", tmp_path / "local/leftImg8bit/val")):
        sheet = maskcli("sheet", tmp_path / "gtFine/val", "-p", "cityscapes", "--images", images, *pair,
                        "-o", tmp_path / f"{where}.png", "--size", "64", "-q", env=env)
        assert sheet.returncode == 1, sheet.stderr  # the mask without a photo and the mis-sized one
        assert "no photo for it" in sheet.stderr
        report = maskcli("check", tmp_path / "gtFine/val", "-p", "cityscapes", "--images", images, *pair,
                         "--html", tmp_path / f"{where}.html", "-q", env=env)
        assert report.returncode == 0, report.stderr
    assert (tmp_path / "remote.png").read_bytes() == (tmp_path / "local.png").read_bytes()
    remote_page = (tmp_path / "remote.html").read_text()
    assert remote_page.count("data:image/png") == (tmp_path / "local.html").read_text().count("data:image/png")
    assert "over its photo" in remote_page or "Each mask over its photo" in remote_page
