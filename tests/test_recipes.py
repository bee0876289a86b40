"""The recipes in docs/recipes.md, run as written."""

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


@pytest.fixture
def project(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copytree(ROOT / "examples/masks", tmp_path / "masks")
    return tmp_path


def make(folder, *targets):
    bindir = str(Path(sys.executable).parent)  # the maskcli of this environment
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    return subprocess.run(["make", *targets], cwd=folder, capture_output=True, text=True, env=env)


def test_pattern_rule_makefile(project):
    (project / "Makefile").write_text(blocks("make")[0])
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
    (project / "Makefile").write_text(blocks("make")[1])
    first = make(project, "labels")
    assert first.returncode == 0, first.stderr
    assert len(list((project / "labels").rglob("*.png"))) == 5
    import json

    again = make(project, "labels")
    report = json.loads((project / "labels-report.json").read_text())
    assert again.returncode == 0 and report["converted"] == 0 and report["skipped"] == 5
    assert make(project, "check").returncode == 0


def test_shell_loop(project):
    script = blocks("sh")[0]
    result = subprocess.run(["bash", "-c", script], cwd=project, capture_output=True, text=True,
                            env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert len(list((project / "labels").rglob("*.png"))) == 5
