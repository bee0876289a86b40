"""Built-in palettes load from a JSON cache of their parsed YAML (start-up without a YAML
parser); the cache must be fresh and must give exactly the palette the YAML gives."""

import json
import subprocess
import sys

import pytest

from maskcli import palette
from maskcli.palette import BUILTIN_CACHE, builtin_dir, builtin_palettes, load_palette, parse_palette_text


@pytest.mark.parametrize("name", list(builtin_palettes()))
def test_each_builtin_is_cached_and_the_cache_gives_the_yaml_palette(name):
    path = builtin_palettes()[name]
    text = path.read_bytes().decode("utf-8-sig")
    assert palette._cached_builtin(path, text) is not None, "stale cache: run scripts/update_palette_cache.py"
    from_yaml = parse_palette_text(text, str(path))
    loaded = load_palette(name)
    assert loaded == palette._replace(from_yaml, path=name, file=str(path), builtin=True)


def test_a_stale_or_broken_cache_entry_is_not_used(tmp_path):
    path = builtin_palettes()["cityscapes"]
    text = path.read_text(encoding="utf-8")
    assert palette._cached_builtin(path, text + "\n# edited\n") is None  # another text: parse the YAML
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    (tmp_path / BUILTIN_CACHE).write_text("{not json", encoding="utf-8")
    assert palette._cached_builtin(tmp_path / "x.yaml", text) is None


def test_a_builtin_palette_run_does_not_import_yaml(tmp_path):
    code = ("import sys; from maskcli import load_palette; load_palette('cityscapes'); "
            "print('yaml' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_the_cache_file_is_what_the_script_writes():
    scripts = builtin_dir().parent / "scripts"
    if not (scripts / "update_palette_cache.py").exists():
        pytest.skip("not a source checkout: scripts/ is not here")
    sys.path.insert(0, str(scripts))
    try:
        import update_palette_cache
    finally:
        sys.path.pop(0)
    shipped = json.loads((builtin_dir() / BUILTIN_CACHE).read_text(encoding="utf-8"))
    assert shipped == update_palette_cache.build(builtin_dir())
