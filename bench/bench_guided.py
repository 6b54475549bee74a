"""Guided-diffusion benchmark: fidelity and diversity against the guidance scale for classifier guidance and
classifier-free guidance (measured by the independent evaluator), and the time to sample 16 guided digits with 50
steps, with achieved FLOP/s against the measured matmul peak.

    .venv/bin/python bench/bench_guided.py                          # 64 per digit, scales 0 1 3 5, DDIM 50
    .venv/bin/python bench/bench_guided.py --per-class 16 --steps 25 --threads 2
    .venv/bin/python bench/bench_guided.py --parts speed

Targets (issue 7): fidelity of at least 95 % at scale 3 with CFG, and a diversity that falls as the scale rises.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from bench.bench_diffusion import matmul_peak, table  # noqa: E402
from core import guided as G  # noqa: E402


def quality(model, clf, ev, scales, per_class: int, steps: int, sampler: str) -> list[dict]:
    rows = G.tradeoff(model, clf, ev, scales, per_class=per_class, sampler=sampler, steps=steps, seed=0,
                      callback=lambda d, n: print(f"  batch {d}/{n}", flush=True))
    out = [{"guidance": r["guidance"], "scale": r["scale"], "fidelity": r["fidelity"], "mean p(y)": r["confidence"],
            "diversity": r["diversity"], "diversity / real": r["diversity_rel"], "samples": r["n"],
            "seconds": r["seconds"]} for r in rows]
    real = G.load_data(16)
    m = ev.measure(((real.x_test[:, 0] + 1) / 2).numpy(), real.y_test)
    out.append({"guidance": "real held-out digits", "scale": float("nan"), "fidelity": m["fidelity"],
                "mean p(y)": m["confidence"], "diversity": m["diversity"], "diversity / real": 1.0,
                "samples": m["n"], "seconds": 0.0})
    return out


def guided_flops(model, clf, kind: str, n: int, scale: float = 3.0) -> float:
    """FLOPs of one guided step on ``n`` samples (both network branches for CFG; the U-Net and the classifier's
    forward and backward for classifier guidance), counted by torch's FlopCounterMode."""
    x = torch.randn((n,) + model.shape)
    y = torch.zeros(n, dtype=torch.long)
    if kind != "classifier":
        with FlopCounterMode(display=False) as fc:
            G.guided_eps(model, x, 500, y, kind, torch.full((n,), scale), clf)
        return fc.get_total_flops()
    # FlopCounterMode cannot watch torch.autograd.grad: count the U-Net call and the classifier's forward and
    # backward (through .backward(), the same graph grad_log_prob differentiates) separately
    with FlopCounterMode(display=False) as fc:
        with torch.no_grad():
            model.eps(x, 500, G.NULL)
        xg = x.clone().requires_grad_(True)
        with torch.enable_grad():
            torch.log_softmax(clf(xg, 500), -1).gather(1, y[:, None]).sum().backward()
    return fc.get_total_flops()


def speed(model, clf, peak: dict, n: int = 16, steps: int = 50, repeats: int = 5) -> list[dict]:
    rows = []
    prec = G.runtime.effective_precision(model.device, model.config.precision)  # bf16 only where it is native
    for kind in ("none", "cfg", "classifier"):
        for sampler in ("ddim", "ddpm"):
            run = lambda kind=kind, sampler=sampler: G.guided_reverse(model, np.full(n, 7), kind, 3.0, sampler, steps,
                                                                  seed=0, classifier=clf)
            run()  # warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                run()
                times.append(time.perf_counter() - t0)
            flops = guided_flops(model, clf, kind, n) * steps
            best = min(times)
            rows.append({"guidance": kind, "sampler": sampler.upper(), "samples": n, "steps": steps,
                         "seconds (best)": best, "median s": statistics.median(times), "GFLOP": flops / 1e9,
                         "GFLOP/s": flops / best / 1e9,
                         f"% of matmul peak ({prec})": 100 * flops / best / 1e9 / peak["bfloat16" if prec == "bf16" else "float32"]})
            print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="quality,speed")
    p.add_argument("--per-class", type=int, default=64)
    p.add_argument("--steps", type=int, default=50, help="sampling steps of the quality table")
    p.add_argument("--sampler", default="ddim", choices=G.SAMPLERS)
    p.add_argument("--scales", type=float, nargs="+", default=[0.0, 1.0, 3.0, 5.0])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, clf, ev = G.load(device="cpu"), G.load_classifier(device="cpu"), G.load_evaluator(device="cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model step {model.step_}, "
          f"evaluator held-out accuracy {ev.meta.get('test_acc', float('nan')):.3f}")
    parts = args.parts.split(",")
    if "quality" in parts:
        rows = quality(model, clf, ev, args.scales, args.per_class, args.steps, args.sampler)
        table(rows, f"Fidelity and diversity ({args.per_class} samples per digit, {args.sampler.upper()} {args.steps} "
                    "steps, evaluator = CNN on clean digits)")
        cfg3 = [r for r in rows if r["guidance"] == "cfg" and r["scale"] == 3.0]
        if cfg3:
            print(f"target: CFG fidelity at s = 3 >= 95 %: {cfg3[0]['fidelity']:.1%} "
                  f"({'met' if cfg3[0]['fidelity'] >= 0.95 else 'NOT met'})")
        for kind in ("cfg", "classifier"):
            d = [r["diversity"] for r in sorted((r for r in rows if r["guidance"] == kind), key=lambda r: r["scale"])]
            print(f"diversity of {kind} falls with the scale: {all(a >= b for a, b in zip(d, d[1:]))} ({', '.join(f'{v:.1f}' for v in d)})")
    if "speed" in parts:
        peak = matmul_peak()
        print(f"matmul peak: fp32 {peak['float32']:.1f} GFLOP/s, bf16 {peak['bfloat16']:.1f} GFLOP/s")
        table(speed(model, clf, peak), "Sampling 16 guided digits (scale 3), 50 steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
