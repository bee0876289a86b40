"""The recipes in docs/recipes.md, run as written."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def blocks(language):
    text = (ROOT / "docs/recipes.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def block(language, holding):
    """The one code block of ``language`` that holds the text ``holding``."""
    found = [b for b in blocks(language) if holding in b]
    assert len(found) == 1, f"{len(found)} {language} blocks hold {holding!r}"
    return found[0]


@pytest.fixture
def project(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copytree(ROOT / "examples/masks", tmp_path / "masks")
    return tmp_path


def make(folder, *targets):
    bindir = str(Path(sys.executable).parent)  # the maskcli of this environment
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    return subprocess.run(["make", *targets], cwd=folder, capture_output=True, text=True, env=env, timeout=300)


def test_pattern_rule_makefile(project):
    (project / "Makefile").write_text(block("make", "labels/%.png: masks/%.png"))
    first = make(project)
    assert first.returncode == 0, first.stderr
    made = sorted(p.relative_to(project / "labels") for p in (project / "labels").rglob("*.png"))
    assert len(made) == 5
    second = make(project)
    assert "maskcli" not in second.stdout  # nothing to do
    time.sleep(0.01)
    (project / "masks/val/street_04.png").touch()
    third = make(project)
    assert third.stdout.count("maskcli to-index") == 1 and "street_04" in third.stdout


def test_folder_target_makefile_with_update(project):
    (project / "Makefile").write_text(block("make", "--update"))
    first = make(project, "labels")
    assert first.returncode == 0, first.stderr
    assert len(list((project / "labels").rglob("*.png"))) == 5
    import json

    again = make(project, "labels")
    report = json.loads((project / "labels-report.json").read_text())
    assert again.returncode == 0 and report["converted"] == 0 and report["skipped"] == 5
    assert make(project, "check").returncode == 0


def test_shell_loop(project):
    script = block("sh", "for split in")
    result = subprocess.run(["bash", "-c", script], cwd=project, capture_output=True, text=True,
                            env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(list((project / "labels").rglob("*.png"))) == 5


# ---------------------------------------------------------------- incremental runs
# A run over the files that changed must leave the tree a full run over everything leaves:
# same paths, same bytes.


def env():
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def change_masks(project, names, after):
    """Give masks new content (another mask's pixels) and a time well after ``after``'s, so
    make and find see them as newer without sleeping."""
    later = os.stat(after).st_mtime + 100
    donor = (project / "masks/train/street_01.png").read_bytes()
    for name in names:
        path = project / "masks" / name
        assert path.read_bytes() != donor
        path.write_bytes(donor)
        os.utime(path, (later, later))


def full_run(project):
    """What a full run writes, into a fresh folder: the reference."""
    ref = project / "reference"
    result = subprocess.run([sys.executable, "-m", "maskcli", "to-index", "masks", "-o", ref, "-p", "cityscapes", "-q"],
                            cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return tree(ref)


def run_sh(project, script):
    result = subprocess.run(["bash", "-c", script], cwd=project, capture_output=True, text=True, env=env())
    assert result.returncode == 0, result.stderr
    return result


def test_incremental_run_from_a_find_list(project):
    script = block("sh", "-newer last-run")
    run_sh(project, script)
    first = tree(project / "labels")
    assert first == full_run(project) and len(first) == 5
    shutil.rmtree(project / "reference")
    change_masks(project, ["val/street_04.png", "train/street_03.png"], project / "last-run")
    untouched = project / "labels/val/street_05.png"
    untouched.write_bytes(b"a file the incremental run must not rewrite")
    run_sh(project, script)
    assert sorted((project / "changed.txt").read_text().split()) == ["masks/train/street_03.png", "masks/val/street_04.png"]
    assert untouched.read_bytes() == b"a file the incremental run must not rewrite"
    untouched.write_bytes(first["val/street_05.png"])
    assert tree(project / "labels") == full_run(project)
    later = os.stat(project / "masks/val/street_04.png").st_mtime + 100
    os.utime(project / "last-run", (later, later))
    run_sh(project, script)  # nothing changed: an empty list is a run over no files, exit 0
    assert (project / "changed.txt").read_text() == ""


def test_incremental_run_from_a_shell_glob(project):
    run_sh(project, "maskcli to-index masks -o labels -p cityscapes -q")
    change_masks(project, ["val/street_04.png", "val/street_05.png"], project / "masks/val")
    run_sh(project, block("sh", "masks/val/*.png"))
    assert tree(project / "labels") == full_run(project)


def test_incremental_make_with_newer_prerequisites(project):
    (project / "Makefile").write_text(block("make", "$?"))
    first = make(project)
    assert first.returncode == 0, first.stderr
    assert tree(project / "labels") == full_run(project)
    change_masks(project, ["train/street_02.png"], project / "labels.stamp")
    second = make(project)
    assert second.returncode == 0, second.stderr
    assert "masks/train/street_02.png -o labels" in second.stdout and "street_01" not in second.stdout
    shutil.rmtree(project / "reference")
    assert tree(project / "labels") == full_run(project)
