"""Write palettes/builtin-cache.json: each built-in palette's YAML as parsed, keyed by the
SHA-256 of its text, so that runs with a built-in palette need no YAML parser (see
maskcli.palette._cached_builtin). Run it after changing a built-in palette; the test suite
fails while the cache is stale.

    python scripts/update_palette_cache.py
"""

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maskcli.palette import BUILTIN_CACHE  # noqa: E402
from maskcli.yamlfile import load_yaml  # noqa: E402


def build(folder: Path) -> dict:
    palettes = {}
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_bytes().decode("utf-8-sig")
        palettes[path.name] = {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                               "data": load_yaml(text, path.name, "palette")}
    return {"written_by": "scripts/update_palette_cache.py", "palettes": palettes}


def main() -> int:
    folder = ROOT / "palettes"
    out = folder / BUILTIN_CACHE
    out.write_text(json.dumps(build(folder), separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
