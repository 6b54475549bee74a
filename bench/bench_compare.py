"""Benchmark of the compare page: the full table of the four families on moons, the ring of 8 and the checkerboard.

Each family trains for ``--budget`` seconds (20 by default) on the same split (4,000 points, a quarter held out,
data seed 0), on ``--threads`` torch threads, one family after another; then every model is measured alike
(core.compare.compare, the very function the page calls). Prints one table per data set, the reading the page
writes under it, and the machine's load before and after (timings on a shared machine are inflated).

Run:  .venv/bin/python bench/bench_compare.py [--budget 20] [--sets moons,ring8,checkerboard] [--threads 1]
      [--seed 0] [--out /tmp/compare_bench]   (JSON results, loadable by core.compare.CompareResult.load)
Never part of the test gate.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import compare  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=20.0)
    p.add_argument("--sets", default="moons,ring8,checkerboard")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    import torch

    print(f"GenLab compare bench: {args.budget:g} s per family, {args.threads} thread(s), seed {args.seed}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    for name in args.sets.split(","):
        cfg = compare.CompareConfig(data=name.strip(), budget=args.budget, seed=args.seed, threads=args.threads)
        res = compare.compare(cfg, device="cpu")
        print(f"\n=== {name} ({res.meta['n_train']:,} training / {res.meta['n_test']:,} test points; "
              f"MMD kernel width {res.bandwidth:.3f}; {res.meta['wall_seconds']:.0f} s wall) ===")
        print(compare.format_table(res))
        for line in compare.reading(res):
            print("-", line.replace("**", ""))
        if args.out:
            res.meta["command"] = "python bench/bench_compare.py " + " ".join(argv or sys.argv[1:])
            res.save(Path(args.out) / f"compare_{name}_{args.budget:g}s.json")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; load average after {os.getloadavg()[0]:.2f} "
          "(the machine is shared: above ~1 per thread, timings and steps reached are inflated / reduced)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
