"""Did a rerun reproduce the committed results? ``python -m edge_rl.compare results rerun``.

Compares, file by file, what must be the same on the same machine type and thread count: the
evaluation rows of every run (``runs/*.csv``), the weights (``models/*.safetensors``), every
table but the timings, and the figures. Left out, because they record *when* and *how long*:
``tables/timings.*``, the checkpoints' JSON (wall time), the training logs (Monitor's time
column), the executed notebooks and ``MODEL_CARD.md`` (which quotes the timings).
Exit status 0 when everything compared is identical, 1 otherwise.

Only on the same CPU model: MKL, PyTorch and NumPy choose their kernels per CPU, and kernels
for other instruction sets round differently (a rerun of the fixed rules on another CPU moved
their returns by 1e-14); training amplifies such differences into other weights. So when
files differ, it also prints what a rerun on another CPU can be held to (:func:`conclusions`): each
trained model's interquartile mean over seeds against the committed 95 % interval, and each
probability-of-improvement verdict against the committed one.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
from pathlib import Path

import pandas as pd

COMPARED = ("runs/*.csv", "models/*.safetensors", "tables/*.csv", "tables/*.md", "figures/*.png")
VARIABLE = {"timings.csv", "timings.md"}
IQM_TABLES = ("tables/evaluation_results.csv", "tables/ablation.csv")
VERDICTS = "tables/probability_of_improvement.csv"


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


def _interval(text: str) -> tuple[float, float] | None:
    """``"[low, high]"`` as the tables write it; None for a rule's ``"n/a (1 run)"``."""
    if not (text.startswith("[") and text.endswith("]")):
        return None
    low, high = (float(part) for part in text[1:-1].split(","))
    return low, high


def conclusions(reference: str | Path, rerun: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a rerun can be held to when its digits differ: ``(models, verdicts)``.

    ``models``: one row per trained model of the Evaluation Results and ablation tables (once
    if in both; the fixed rules have no interval), with the committed IQM and 95 % interval, the rerun's IQM
    and whether it lies inside (the interval is as the table rounds it, to 2 decimals).
    ``verdicts``: one row per comparison, the committed and the rerun's verdict. A table the
    rerun lacks gives no rows.
    """
    reference, rerun = Path(reference), Path(rerun)
    models, seen = [], set()
    for name in IQM_TABLES:
        if not (reference / name).is_file() or not (rerun / name).is_file():
            continue
        ours, theirs = pd.read_csv(reference / name), pd.read_csv(rerun / name)
        # A model is named by the text columns before its IQM (Model; or policy, encoder, fusion).
        keys = [k for k in ours.columns[: list(ours.columns).index("IQM over seeds")]
                if not pd.api.types.is_numeric_dtype(ours[k])]
        merged = ours.merge(theirs, on=keys, how="inner", suffixes=("", " rerun"))
        for _, row in merged.iterrows():
            interval = _interval(str(row["IQM 95% CI"]))
            if interval is None:
                continue
            if (row[keys[0]], row["IQM over seeds"]) in seen:  # the ablation repeats some models
                continue
            seen.add((row[keys[0]], row["IQM over seeds"]))
            iqm = float(row["IQM over seeds rerun"])
            models.append({"table": Path(name).stem, "model": ", ".join(str(row[k]) for k in keys if k != "Type"),
                           "IQM": float(row["IQM over seeds"]), "IQM 95% CI": row["IQM 95% CI"],
                           "IQM rerun": iqm, "inside": interval[0] <= iqm <= interval[1]})
    verdicts = pd.DataFrame(columns=["comparison", "verdict", "verdict rerun", "agree"])
    if (reference / VERDICTS).is_file() and (rerun / VERDICTS).is_file():
        merged = pd.read_csv(reference / VERDICTS).merge(pd.read_csv(rerun / VERDICTS), on="comparison",
                                                         suffixes=("", " rerun"))
        verdicts = merged[["comparison", "verdict", "verdict rerun"]].assign(
            agree=lambda t: t["verdict"] == t["verdict rerun"])
    return pd.DataFrame(models, columns=["table", "model", "IQM", "IQM 95% CI", "IQM rerun", "inside"]), verdicts


def _print_conclusions(reference: str | Path, rerun: str | Path) -> None:
    models, verdicts = conclusions(reference, rerun)
    if models.empty and verdicts.empty:
        return
    print("\nThe digits differ. On another CPU model that is expected (see python -m edge_rl.compare "
          "--help); what the rerun can be held to:")
    print(f"  IQM over seeds inside the committed 95 % interval: {int(models['inside'].sum())} of {len(models)} models")
    for _, row in models[~models["inside"]].iterrows():
        print(f"    outside: {row['model']} ({row['table']}): {row['IQM']:.2f} {row['IQM 95% CI']}, "
              f"rerun {row['IQM rerun']:.2f}")
    print(f"  probability-of-improvement verdicts agreeing: {int(verdicts['agree'].sum())} of {len(verdicts)}")
    for _, row in verdicts[~verdicts["agree"]].iterrows():
        print(f"    differs: {row['comparison']}: {row['verdict']!r}, rerun {row['verdict rerun']!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_rl.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    if found["different"]:
        _print_conclusions(args.reference, args.rerun)
    return 0 if not (found["different"] or found["missing"] or found["extra"]) else 1


if __name__ == "__main__":
    sys.exit(main())
