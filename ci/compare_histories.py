"""Compare two runs of the course's chapters, history by history, bit for bit (issue 34's refactor check).

    python ci/compare_histories.py OLD_OUTPUTS NEW_OUTPUTS [--only 03 04]

OLD_OUTPUTS and NEW_OUTPUTS are outputs folders (e.g. `build/quick/outputs` of two commits' `make quick`). For every
chapter in both, every run of the same name must have the same epochs with the same values, every field equal as
stored (floats compared exactly), except the wall-clock `seconds`. Prints one line per chapter; exits 1 on any
difference.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

IGNORED = {"seconds"}


def histories(folder: Path) -> dict[str, list[dict]]:
    runs = json.loads((folder / "metrics.json").read_text())["runs"]
    return {run["name"]: [{k: v for k, v in e.items() if k not in IGNORED} for e in run["epochs"]] for run in runs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    failed = False
    for old in sorted(args.old.glob("[0-9][0-9]_*/metrics.json")):
        stem = old.parent.name
        if args.only and not any(stem.startswith(o) for o in args.only):
            continue
        new = args.new / stem / "metrics.json"
        if not new.exists():
            print(f"{stem}: no new run")
            failed = True
            continue
        a, b = histories(old.parent), histories(new.parent)
        diffs = [name for name in a if a[name] != b.get(name)] + [f"{name} (new only)" for name in b if name not in a]
        print(f"{stem}: {len(a)} run(s), " + ("identical histories" if not diffs else f"DIFFER: {', '.join(diffs)}"))
        failed |= bool(diffs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
