"""Ng & Jordan (2002) on scikit-learn's digits, reproduced for every setting of the page's learning curves
(run by hand; never part of the test gate).

    .venv/bin/python bench/bench_bayes.py [--pairs digits_0v1,digits_2v3,digits_3v8] [--splits 20] [--C 100]

For each digit pair: NB's test error for every variance smoothing (``core.bayes.NB_SMOOTHINGS``) and LR's for
both inputs (raw pixels in [0, 1], standardised on the training set) at C = ``--C``, as mean ± std over
``--splits`` random splits at m = 2, 4, 6, 10, 20, 50, 100 training images per class (``core.bayes.CURVE_SIZES``);
then, for every combination NB smoothing x LR input, the sizes m at which NB's mean error is the lower and the
largest such m. NB's error does not depend on LR's setting nor LR's on NB's, so each curve is computed once
(with the same splits and training images, ``core.bayes.learning_curves``). Last, the time the page's default
setting takes on one core (median of 3; the page caches it per setting). Prints markdown tables.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import bayes


def table(headers, rows):
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print()


def cell(err, i):
    return f"{err[i].mean():.1%} ± {err[i].std(ddof=1):.1%}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", default="digits_0v1,digits_2v3,digits_3v8")
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--C", type=float, default=bayes.CurveConfig().C)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sizes = bayes.CURVE_SIZES
    print(f"Test error, mean ± std over {args.splits} random splits (30 % of each class held out), "
          f"m training images per class; LR with C = {args.C:g}.\n")
    for pair in args.pairs.split(","):
        nb, lr = {}, {}
        for i, vs in enumerate(bayes.NB_SMOOTHINGS):
            for prep in bayes.LR_PREPS if i == 0 else ():
                c = bayes.learning_curves(bayes.CurveConfig(pair, vs, prep, args.C, args.splits, args.seed))
                nb[vs], lr[prep] = c["NB"], c["LR"]
            if i:
                nb[vs] = bayes.learning_curves(bayes.CurveConfig(pair, vs, "raw", args.C, args.splits, args.seed))["NB"]
        print(f"### {pair}\n")
        rows = [[f"NB, smoothing {vs:g}"] + [cell(e, j) for j in range(len(sizes))] for vs, e in nb.items()]
        rows += [[f"LR, {prep}"] + [cell(e, j) for j in range(len(sizes))] for prep, e in lr.items()]
        table(["model"] + [f"m = {m}" for m in sizes], rows)
        rows = []
        for vs, e_nb in nb.items():
            for prep, e_lr in lr.items():
                s = bayes.curve_summary({"sizes": sizes, "NB": e_nb, "LR": e_lr})
                rows.append([f"{vs:g}", prep, ", ".join(map(str, s["nb_wins"])) or "none",
                             max(s["nb_wins"], default="never"), s["nb_wins_up_to"] or "-"])
        table(["NB smoothing", "LR input", "NB's mean error lower at m =", "largest m NB wins",
               "NB wins at every m up to"], rows)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        bayes.learning_curves(bayes.CurveConfig())
        times.append(time.perf_counter() - t)
    print(f"Page default ({bayes.CurveConfig()}): {statistics.median(times):.2f} s on one core (median of 3).")


if __name__ == "__main__":
    main()
