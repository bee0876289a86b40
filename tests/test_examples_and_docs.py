"""The repository's own examples and documentation stay in step with the code."""

import re
import runpy
import shlex
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import write_png
from maskcli.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_examples_are_what_the_script_makes(tmp_path):
    script = runpy.run_path(str(ROOT / "scripts/make_examples.py"))
    script["main"](tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png"))
    shipped = sorted(p.relative_to(ROOT / "examples/masks") for p in (ROOT / "examples/masks").rglob("*.png"))
    assert made == shipped and len(made) == 5
    for rel in made:
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / rel)), np.asarray(Image.open(ROOT / "examples/masks" / rel)))


def all_commands(group=cli, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, prefix + (name,))


def test_every_command_and_option_is_documented():
    docs = "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    readme = (ROOT / "README.md").read_text()
    for path, cmd in all_commands():
        title = "maskcli " + " ".join(path)
        assert title in docs, f"docs/ do not mention '{title}'"
        assert cmd.help and "$ maskcli" in cmd.help or isinstance(cmd, click.Group) or path[-1] == "list", title
        for param in cmd.params:
            if isinstance(param, click.Option):
                longest = max(param.opts, key=len)
                assert re.search(rf"{re.escape(longest)}\b", docs), f"docs/ do not document {title} {longest}"
    for command in ("to-index", "to-rgb", "extract-palette", "palettes"):
        assert f"maskcli {command}" in readme


# --------------------------------------------------------------------------- documented runs
# Every ```console block in README.md and docs/ is a real run: its "$ maskcli ..." lines are run
# in a folder holding the tree below, and what they print (stderr and stdout, in order) must be
# the block's other lines, except for the time in the summary's parentheses.

SKY, BUILDING, ROAD, CAR = (70, 130, 180), (70, 70, 70), (128, 64, 128), (0, 0, 142)
VOC_PERSON = (192, 128, 128)  # Pascal VOC's person: not a Cityscapes color


def example_tree(root: Path) -> None:
    """masks/: two clean Cityscapes masks, one whose road/car edge was blended by a resize
    (4 colors between road and car on one row), and a Pascal VOC mask that strayed in."""
    a = np.zeros((32, 64, 3), np.uint8)
    a[:12], a[12:16], a[16:] = SKY, BUILDING, ROAD
    write_png(root / "masks/train/aachen_1.png", a)
    b = np.zeros((32, 64, 3), np.uint8)
    b[:14], b[14:] = SKY, ROAD
    b[20:28, 10:30] = CAR
    write_png(root / "masks/val/bonn_1.png", b)
    c = np.zeros((32, 64, 3), np.uint8)
    c[:16], c[17:] = ROAD, CAR
    c[16, :24], c[16, 24:40], c[16, 40:52], c[16, 52:] = (64, 32, 135), (96, 48, 131), (32, 16, 138), (80, 40, 133)
    write_png(root / "masks/val/bonn_2.png", c)
    d = np.zeros((32, 64, 3), np.uint8)
    d[12:] = VOC_PERSON
    write_png(root / "masks/val/2007_000032.png", d)


def console_blocks():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in re.finditer(r"^```console\n(.*?)^```", doc.read_text(), re.S | re.M):
            yield f"{doc.relative_to(ROOT)}:{doc.read_text()[: match.start()].count(chr(10)) + 1}", match.group(1)


def without_time(text: str) -> str:
    return re.sub(r"\(\d+\.\d s\)$", "(T s)", text, flags=re.M)


def test_there_are_documented_runs():
    assert len(list(console_blocks())) >= 3


@pytest.mark.parametrize("where,block", [pytest.param(w, b, id=w) for w, b in console_blocks()])
def test_documented_output_is_what_maskcli_prints(where, block, tmp_path, monkeypatch):
    example_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    expected, printed = [], []
    for line in block.splitlines():
        if not line.startswith("$ "):
            expected.append(line)
            continue
        args = shlex.split(line[2:])
        assert args[0] == "maskcli", f"{where}: only maskcli commands run here"
        result = CliRunner().invoke(cli, args[1:], catch_exceptions=False)
        printed += result.output.splitlines()
    assert without_time("\n".join(printed)) == without_time("\n".join(expected)), where
