"""Compare two results/ trees: every HDF5 dataset exactly, every CSV, JSON and PNG byte for byte.

Usage: python tests/compare_results.py BEFORE/results AFTER/results (exit 1 on any difference).
A refactor that must not change results is checked with it on two quick runs (docs/validation.md).
Datasets are compared with exact equality (NaN == NaN); HDF5 attributes are not (they hold
provenance: time, host, and the spec's JSON form, whose layout changed on purpose).
"""

import filecmp
import sys
from pathlib import Path

import h5py
import numpy as np


def datasets(path):
    out = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def main(before, after):
    before, after = Path(before), Path(after)
    files_b = {p.relative_to(before) for p in before.rglob("*") if p.is_file() and not p.name.startswith(".")}
    files_a = {p.relative_to(after) for p in after.rglob("*") if p.is_file() and not p.name.startswith(".")}
    problems, counts = [], {"h5": 0, "datasets": 0, "text": 0}
    for missing in sorted(files_b ^ files_a):
        problems.append(f"only in {'before' if missing in files_b else 'after'}: {missing}")
    for rel in sorted(files_b & files_a):
        if rel.suffix == ".h5":
            db, da = datasets(before / rel), datasets(after / rel)
            counts["h5"] += 1
            if rel.parts[0] == "data":  # the old files also stored splits/<f>/{train,test}
                splits = {k: v for k, v in db.items() if k.startswith("splits/")}
                perm = db["permutation"]
                for key, value in splits.items():
                    fraction, part = key.split("/")[1], key.split("/")[2]
                    n_train = int(np.floor(round(float(fraction) * len(perm), 9)))
                    derived = perm[:n_train] if part == "train" else perm[n_train:]
                    if not np.array_equal(value, derived):
                        problems.append(f"{rel}: stored split {key} differs from the derived one")
                db = {k: v for k, v in db.items() if not k.startswith("splits/")}
            if db.keys() != da.keys():
                problems.append(f"{rel}: datasets {sorted(db.keys() ^ da.keys())} differ")
            for key in db.keys() & da.keys():
                counts["datasets"] += 1
                b, a = db[key], da[key]
                same = np.array_equal(b, a, equal_nan=b.dtype.kind == "f") if isinstance(b, np.ndarray) else b == a
                if not same:
                    problems.append(f"{rel}:{key} differs")
        elif rel.suffix in (".csv", ".json", ".png"):
            counts["text"] += 1
            if not filecmp.cmp(before / rel, after / rel, shallow=False):
                problems.append(f"{rel}: contents differ")
    print(f"compared {counts['h5']} HDF5 files ({counts['datasets']} datasets) and {counts['text']} CSV/JSON/PNG files")
    print("\n".join(problems) if problems else "identical")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
