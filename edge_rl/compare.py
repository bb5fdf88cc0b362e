"""Did a rerun reproduce the committed results? ``python -m edge_rl.compare results rerun``.

Compares, file by file, what must be the same on the same machine type and thread count: the
evaluation rows of every run (``runs/*.csv``), the weights (``models/*.safetensors``), every
table but the timings, and the figures. Left out, because they record *when* and *how long*:
``tables/timings.*``, the checkpoints' JSON (wall time), the training logs (Monitor's time
column), the executed notebooks and ``MODEL_CARD.md`` (which quotes the timings).
Exit status 0 when everything compared is identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
from pathlib import Path

COMPARED = ("runs/*.csv", "models/*.safetensors", "tables/*.csv", "tables/*.md", "figures/*.png")
VARIABLE = {"timings.csv", "timings.md"}


def compare(reference: str | Path, rerun: str | Path) -> dict[str, list[str]]:
    """Files under :data:`COMPARED`, sorted into ``identical``, ``different``, ``missing`` (in
    the rerun) and ``extra`` (only in the rerun)."""
    reference, rerun = Path(reference), Path(rerun)
    for folder in (reference, rerun):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such results folder")
    found: dict[str, list[str]] = {"identical": [], "different": [], "missing": [], "extra": []}
    for pattern in COMPARED:
        ours = {p.relative_to(reference).as_posix() for p in reference.glob(pattern) if p.name not in VARIABLE}
        theirs = {p.relative_to(rerun).as_posix() for p in rerun.glob(pattern) if p.name not in VARIABLE}
        found["missing"] += sorted(ours - theirs)
        found["extra"] += sorted(theirs - ours)
        for name in sorted(ours & theirs):
            same = filecmp.cmp(reference / name, rerun / name, shallow=False)
            found["identical" if same else "different"].append(name)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_rl.compare", description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="the committed results, e.g. results")
    parser.add_argument("rerun", help="the rerun's folder, e.g. rerun (make reproduce OUT=rerun)")
    args = parser.parse_args(argv)
    try:
        found = compare(args.reference, args.rerun)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for kind in ("different", "missing", "extra"):
        for name in found[kind]:
            print(f"{kind}: {name}")
    print(f"{len(found['identical'])} identical, {len(found['different'])} different, "
          f"{len(found['missing'])} missing, {len(found['extra'])} extra")
    return 0 if not (found["different"] or found["missing"] or found["extra"]) else 1


if __name__ == "__main__":
    sys.exit(main())
