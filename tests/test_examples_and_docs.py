"""The repository's own examples and documentation stay in step with the code."""

import re
import runpy
from pathlib import Path

import click
import numpy as np
from PIL import Image

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
