"""Compare two runs of the course's chapters, history by history, bit for bit (issue 34's refactor check).

    python ci/compare_histories.py OLD_OUTPUTS NEW_OUTPUTS [--only 03 04]

OLD_OUTPUTS and NEW_OUTPUTS are outputs folders (e.g. `build/quick/outputs` of two commits' `make quick`). For every
chapter in both, every run of the same name must have the same epochs with the same values, every field equal as
stored (floats compared exactly), except the wall-clock `seconds`. A field the new epochs add (a new measurement)
is listed, not a difference: every field of the old records must be unchanged. Prints one line per chapter; exits 1
on any difference.
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
        # The new run's epochs cut to the fields the old ones have: a field added is a new measurement.
        kept = {name: [{k: e[k] for k in old_e if k in e} for e, old_e in zip(b[name], a[name])] + b[name][len(a[name]):]
                for name in a if name in b}
        diffs = [name for name in a if a[name] != kept.get(name)] + [f"{name} (new only)" for name in b if name not in a]
        old_fields = {k for h in a.values() for e in h for k in e}
        added = sorted({k for name in a if name in b for e in b[name] for k in e} - old_fields)
        print(f"{stem}: {len(a)} run(s), " + ("identical histories" if not diffs else f"DIFFER: {', '.join(diffs)}")
              + (f" (fields added: {', '.join(added)})" if added else ""))
        failed |= bool(diffs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
