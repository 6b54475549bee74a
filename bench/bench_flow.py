"""Benchmark of the flow family: live training time, test NLL against KDE / Gaussian mixture, and the peers.

For moons, ring8 and checkerboard (6,000 points each, 2/3 train and 1/3 test, data seed 0: every contender
trains on the same points and is scored on the same 2,000 test points):

1. GenLab's flow with the shipped checkpoint's config (what "Train live" on the page runs) and the same flow
   with the other coupling (affine <-> rational-quadratic spline, :func:`core.flow.coupling_settings`); for
   ring8 (a mixture base) both also run from a standard normal base, as the peers' flows do. The peers:
   zuko's ``RealNVP(features=2, transforms=8, hidden_features=(64, 64))``, zuko's neural spline flow
   ``NSF(features=2, transforms=T, hidden_features=(64, 64))`` with T = 8 (the RealNVP's size) and T = 3
   (zuko's default; cheaper steps, so more of them in the same seconds), and normflows' README RealNVP (32
   ``AffineCouplingBlock``s with ``MLP([1, 64, 64, 2], init_zeros=True)`` and swaps, a ``DiagGaussian`` base).
   All are trained round-robin in 0.5 s slices of their own gradient-step time so that the machine's load
   (2 cores shared with other engineers) falls on all alike. Seconds count gradient steps only (evaluations
   are not timed, for all alike). Every one runs on 1 thread with the same batch size as GenLab's default;
   the peers use the optimiser settings their documentation shows (zuko: Adam, lr 1e-3; normflows' RealNVP
   example: Adam, lr 5e-4, weight decay 1e-5).
2. ``--seeds 0,1,2``: the whole race once per weight/batch seed (the data stay the same); the table gives the
   mean +- standard deviation over the seeds of the test NLL (mean, nats) at 10, 20 and 60 s; the seconds
   until GenLab's test NLL stops improving (the time after which it never gets better by more than 0.01 nats);
   the final test NLL of GenLab, KDE (bandwidth by GridSearchCV) and the Gaussian mixture (components by BIC).
   ``--json checkpoints/flow_bench.json`` writes the table with its command and load average: the flow page
   quotes it (:func:`core.flow.bench_claim`).
3. ``--part page`` (or ``all``): page render and redraw times in Chromium.

Run:  .venv/bin/python bench/bench_flow.py [--part training|page|all] [--seconds 60] [--sets moons,ring8]
      [--seeds 0,1,2] [--peers zuko-realnvp,zuko-nsf8,zuko-nsf3,normflows] [--json PATH]
      [--plots /tmp/flow_bench]   (PNG scatter plots of the samples at 20 s, for looking, not shipped)
Never part of the test gate. Needs ``pip install -r requirements-bench.txt`` for the peers.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import flow, runtime  # noqa: E402

MARKS = (10, 20, 60)
SLICE = 0.5  # seconds of own gradient-step time per turn


# ------------------------------------------------------------------------------------------ runners
class GenLabRunner:
    def __init__(self, Xtr, Xte, config: flow.FlowConfig, name="GenLab"):
        self.name = name
        self.data = (Xtr, Xte)
        self.Xte = torch.from_numpy(Xte)
        self.config = config
        self.model = None

    @property
    def seconds(self):
        return 0.0 if self.model is None else self.model.train_seconds_

    @property
    def done(self):
        return self.model is not None and self.model.step_ >= self.config.steps

    def run_for(self, budget):
        start = self.seconds
        while self.seconds - start < budget and not self.done:
            self.model = flow.train(self.config, self.data, model=self.model, device="cpu",
                                    until=(0 if self.model is None else self.model.step_) + 10)

    def test_nll(self):
        return self.model.nll(self.Xte.numpy()) if self.model is not None else float("nan")

    def sample(self, n):
        return self.model.sample(n, seed=1)


class TorchRunner:
    """A peer model trained by plain Adam steps on -mean log p, timed per step."""

    def __init__(self, name, model, log_prob, sampler, Xtr, Xte, batch, lr, weight_decay=0.0, seed=0):
        self.name, self.model, self._log_prob, self._sampler = name, model, log_prob, sampler
        self.Xtr, self.Xte = torch.from_numpy(Xtr), torch.from_numpy(Xte)
        self.opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.batch = batch
        self.gen = runtime.torch_generator(seed + 1)
        self.seconds = 0.0
        self.steps = 0
        self.done = False

    def run_for(self, budget):
        start = self.seconds
        self.model.train()
        while self.seconds - start < budget:
            t0 = time.perf_counter()
            idx = torch.randint(len(self.Xtr), (self.batch,), generator=self.gen)
            loss = -self._log_prob(self.Xtr[idx]).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.seconds += time.perf_counter() - t0
            self.steps += 1

    @torch.no_grad()
    def test_nll(self):
        self.model.eval()
        return float(-self._log_prob(self.Xte).mean())

    @torch.no_grad()
    def sample(self, n):
        return self._sampler(n)


def zuko_runner(Xtr, Xte, batch, seed=0):
    import zuko

    model = runtime.seeded_init(lambda: zuko.flows.RealNVP(features=2, transforms=8, hidden_features=(64, 64)), seed)
    return TorchRunner("zuko RealNVP", model, lambda x: model().log_prob(x),
                       lambda n: model().sample((n,)).numpy(), Xtr, Xte, batch, lr=1e-3, seed=seed)


def zuko_nsf_runner(Xtr, Xte, batch, seed=0, transforms=8):
    """zuko's neural spline flow (Durkan et al., 2019): ``NSF(features=2, transforms, hidden_features=(64, 64))``,
    monotone rational-quadratic splines (8 bins on [-5, 5]) in masked autoregressive transforms; Adam, lr 1e-3."""
    import zuko

    model = runtime.seeded_init(lambda: zuko.flows.NSF(features=2, transforms=transforms, hidden_features=(64, 64)),
                                seed)
    return TorchRunner(f"zuko NSF x{transforms}", model, lambda x: model().log_prob(x),
                       lambda n: model().sample((n,)).numpy(), Xtr, Xte, batch, lr=1e-3, seed=seed)


def normflows_runner(Xtr, Xte, batch, seed=0):
    import normflows as nf

    def make():  # normflows README recipe
        base = nf.distributions.base.DiagGaussian(2)
        flows = []
        for _ in range(32):
            param_map = nf.nets.MLP([1, 64, 64, 2], init_zeros=True)
            flows.append(nf.flows.AffineCouplingBlock(param_map))
            flows.append(nf.flows.Permute(2, mode="swap"))
        return nf.NormalizingFlow(base, flows)

    model = runtime.seeded_init(make, seed)

    def sampler(n):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            return model.sample(n)[0].numpy()

    return TorchRunner("normflows RealNVP", model, model.log_prob, sampler, Xtr, Xte, batch,
                       lr=5e-4, weight_decay=1e-5, seed=seed)


# ---------------------------------------------------------------------------------------- training
def live_config(name: str) -> flow.FlowConfig:
    """What *Train live* on the page runs for a toy set: the shipped checkpoint's config, else the default."""
    from core import checkpoints

    try:
        return flow.FlowConfig(**checkpoints.read_record(checkpoints.shipped(flow.shipped_name(name)))["config"])
    except checkpoints.CheckpointError:
        return flow.FlowConfig()


def mode_share(samples) -> float:
    from core import data as gdata
    from core import metrics

    return metrics.mode_coverage(samples, *gdata.mixture_modes("ring8")).high_quality


def stop_time(curve, tol=0.01):
    """Seconds after which the test NLL never improves on its best-so-far by more than ``tol`` nats."""
    best_final = min(v for _, v in curve if math.isfinite(v))
    for t, v in curve:
        if v <= best_final + tol:
            return t, v
    return curve[-1]


def at(curve, T):
    """Test NLL of the last evaluation at or before T seconds."""
    vals = [v for t, v in curve if t <= T + 1e-9]
    return vals[-1] if vals else float("nan")


PEERS = {"zuko-realnvp": zuko_runner, "zuko-nsf8": lambda *a, **k: zuko_nsf_runner(*a, **k, transforms=8),
         "zuko-nsf3": lambda *a, **k: zuko_nsf_runner(*a, **k, transforms=3), "normflows": normflows_runner}


def genlab_contenders(name: str, seed: int) -> list[tuple[str, flow.FlowConfig]]:
    """GenLab's flows for a data set: the page's *Train live* settings (the shipped checkpoint's config) and the
    same flow with the other coupling (the settings :func:`core.flow.coupling_settings` gives it); a mixture-base
    flow also runs from the standard normal base, as the peers' flows are."""
    cfg = live_config(name).replace(seed=seed)
    other = "affine" if cfg.coupling == "spline" else "spline"
    out = [(f"GenLab {cfg.coupling}", cfg), (f"GenLab {other}", flow.coupling_settings(cfg, other))]
    if cfg.base_components:
        out += [(f"{who}, N(0,I) base", c.replace(base_components=0)) for who, c in out]
    return out


def run_race(runners, seconds, name, snap=None, shares=None):
    """Round-robin SLICE-second turns of each runner's own gradient-step time, until each has had ``seconds``."""
    curves = {r.name: [] for r in runners}
    while any(r.seconds < seconds and not r.done for r in runners):
        for r in runners:
            if r.seconds >= seconds or r.done:
                continue
            r.run_for(min(SLICE, seconds - r.seconds))
            v = r.test_nll()
            curves[r.name].append((r.seconds, v if math.isfinite(v) else float("inf")))
            if snap is not None and r.seconds >= 20 - SLICE / 2 and r.name not in snap:
                snap[r.name] = r.sample(2000)
                if name == "ring8" and shares is not None:
                    shares.append((r.name, r.seconds, mode_share(snap[r.name])))
    return curves


def bench_training(sets, seconds, plots=None, n_points=6000, seeds=(0,), peers=("zuko-realnvp", "zuko-nsf8",
                                                                              "zuko-nsf3", "normflows"),
                   json_out=None, argv_used=None):
    """Every contender on the same points (data seed 0, the same 2,000 test points), for each weight/batch seed
    in ``seeds``; the table gives the mean and standard deviation over the seeds of the test NLL at each mark."""
    import statistics

    torch.set_num_threads(1)
    rows, summary, shares = [], [], []
    marks = [T for T in MARKS if T <= seconds + 1e-9] or [seconds]
    for name in sets:
        Xtr, Xte = flow.make_data(name, n_points, 0)
        t0 = time.perf_counter()
        refs = flow.reference_densities(Xtr, Xte, seed=0)
        ref_s = time.perf_counter() - t0
        per, configs = {}, {}  # contender -> list over seeds of (values at the marks, steps, seconds run); config
        for seed in seeds:
            runners = [GenLabRunner(Xtr, Xte, c, who) for who, c in genlab_contenders(name, seed)]
            batch = runners[0].config.batch_size
            runners += [PEERS[p](Xtr, Xte, batch, seed=seed) for p in peers]
            snap = {} if seed == seeds[0] else None
            curves = run_race(runners, seconds, name, snap, shares if seed == seeds[0] else None)
            for r in runners:
                c = curves[r.name]
                steps = r.model.step_ if isinstance(r, GenLabRunner) else r.steps
                per.setdefault(r.name, []).append(([at(c, T) for T in marks], steps, c[-1][0]))
                if isinstance(r, GenLabRunner):
                    configs[r.name] = r.config.replace(seed=0)
            g = curves[runners[0].name]
            t_stop, v_stop = stop_time(g)
            summary.append((f"{name} s{seed}", t_stop, v_stop, min(v for _, v in g), refs["kde"], refs["gmm"], ref_s,
                            runners[0].model.step_))
            if plots and snap is not None:
                _plot(plots, name, Xte, snap)
            print(f"  [{name} seed {seed} done: " + ", ".join(f"{r.name} {at(curves[r.name], marks[-1]):.3f}"
                                                             for r in runners) + f" at {marks[-1]:g} s]", flush=True)
        for who, runs in per.items():
            vals = list(zip(*[v for v, _, _ in runs]))
            mean = [statistics.fmean(v) for v in vals]
            sd = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in vals]
            rows.append((name, who, mean, sd, statistics.fmean(s for _, s, _ in runs), min(r for _, _, r in runs),
                         configs.get(who)))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print()
    print(f"Test NLL (nats, lower is better) at equal seconds of gradient steps, 1 thread, batch {batch}; "
          f"mean +- sd over seeds {','.join(map(str, seeds))}; load average {load}")
    print(f"{'data':13s} {'model':30s} " + " ".join(f"{str(T) + ' s':>15s}" for T in marks) + f" {'steps':>7s} {'ran s':>6s}")
    for name, who, mean, sd, steps, ran, _ in rows:
        print(f"{name:13s} {who:30s} " + " ".join(f"{m:8.3f} +-{d:5.3f}" for m, d in zip(mean, sd))
              + f" {steps:7.0f} {ran:6.1f}")
    if shares:
        print()
        print("Ring of 8 at 20 s: share of 2,000 samples within 3 sigma of a mode (the data: 98.9 %)")
        for who, sec, share in shares:
            print(f"  {who:32s} {share:6.1%}  (after {sec:.1f} s)")
    print()
    print("GenLab flow (the page's Train live settings) vs reference densities on the same held-out points")
    print(f"{'data':16s} {'stops improving':>16s} {'NLL then':>9s} {'best':>7s} {'KDE':>7s} {'GMM':>7s}  KDE bandwidth (CV), GMM size (BIC)  (fit s)")
    for name, t_stop, v_stop, best, kde, gmm, ref_s, _steps in summary:
        print(f"{name:16s} {t_stop:14.1f} s {v_stop:9.3f} {best:7.3f} {kde.test_nll:7.3f} {gmm.test_nll:7.3f}  "
              f"bw={kde.params['bandwidth']:.3f}, k={gmm.params['n_components']:<3d}          ({ref_s:.1f})")
    if json_out:
        import dataclasses
        import json

        record = {"command": "python bench/bench_flow.py " + " ".join(argv_used or []), "load": load,
                  "torch": torch.__version__, "threads": 1, "seeds": list(seeds), "marks": marks,
                  "claim_seconds": 20 if 20 in marks else marks[-1], "batch_size": batch,
                  "rows": [{"data": name, "model": who, "mean": mean, "sd": sd, "steps": steps, "ran_s": ran,
                            "config": dataclasses.asdict(cfg) if cfg is not None else None}
                           for name, who, mean, sd, steps, ran, cfg in rows]}
        Path(json_out).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {json_out}")
    return rows, summary


def _plot(folder, name, Xte, snap):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Path(folder).mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 1 + len(snap), figsize=(4 * (1 + len(snap)), 4))
    axes[0].scatter(*Xte.T, s=2)
    axes[0].set_title(f"{name}: test data")
    for ax, (who, S) in zip(axes[1:], snap.items()):
        ax.scatter(*S.T, s=2, c="C1")
        ax.set_title(f"{who} at 20 s")
    for ax in axes:
        ax.set_xlim(-3.5, 3.5)
        ax.set_ylim(-3.5, 3.5)
        ax.set_aspect("equal")
    fig.savefig(Path(folder) / f"{name}.png", dpi=70)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["training", "page", "all"], default="all")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--sets", default="moons,ring8,checkerboard")
    p.add_argument("--plots", default=None)
    p.add_argument("--n", type=int, default=6000, help="points per data set (2/3 train, 1/3 test)")
    p.add_argument("--seeds", default="0", help="weight and batch seeds, e.g. 0,1,2 (the data stay data seed 0)")
    p.add_argument("--peers", default="zuko-realnvp,zuko-nsf8,zuko-nsf3,normflows",
                   help=f"comma-separated, of {sorted(PEERS)} (empty: GenLab's flows only)")
    p.add_argument("--json", default=None, help="also write the table here (checkpoints/flow_bench.json is the one "
                   "the page quotes)")
    a = p.parse_args(argv)
    if a.part in ("training", "all"):
        argv_used = sys.argv[1:] if argv is None else list(argv)
        print("command: python bench/bench_flow.py " + " ".join(argv_used))
        bench_training(a.sets.split(","), a.seconds, a.plots, a.n, tuple(int(v) for v in a.seeds.split(",")),
                       tuple(v for v in a.peers.split(",") if v), a.json, argv_used)
    if a.part in ("page", "all"):
        bench_page()


PAGE_SLIDERS = (("Density and samples", "Samples to draw"), ("Layer by layer", "Layers applied"),
                ("Anomaly detection", "Flag the least likely share"))


def bench_page(redraws: int = 10):
    """Real-browser timing of the flow page (Chromium + a local Streamlit server, tests/browser.py helpers).

    Cold = first visit after the server started (imports, checkpoint load, density grid); warm = a new
    session on the same server; redraw = one of the page's sliders nudged by one step with the keyboard,
    until the rerun is over (median and max of ``redraws`` nudges per slider).
    """
    import statistics

    from tests import browser

    rows = []
    with browser.streamlit_server() as (base, proc), browser.chromium() as chromium:
        cold_page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        cold = browser.open_and_time(cold_page, f"{base}/flow", 180)
        warm_page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        warm = browser.open_and_time(warm_page, f"{base}/flow", 180)
        rows.append(("first render, cold server", cold, cold))
        rows.append(("first render, warm server", warm, warm))
        from urllib.parse import quote_plus

        for view, label in PAGE_SLIDERS:  # each view draws its own sliders: open it, then nudge
            browser.open_and_time(warm_page, f"{base}/flow?view={quote_plus(view)}", 180)
            slider = warm_page.locator('[data-testid="stMain"] [data-testid="stSlider"]').filter(has_text=label)
            handle = slider.locator("input[type=range], [role=slider]").first
            times = []
            for i in range(redraws):
                def act(i=i, handle=handle):
                    handle.focus()
                    warm_page.keyboard.press("ArrowLeft" if i % 2 == 0 else "ArrowRight")
                times.append(browser.change_and_time(warm_page, act, 60))
            rows.append((f"redraw: {label!r} slider", statistics.median(times), max(times)))
        errors = browser.exceptions_on(warm_page)
        rss = browser.peak_rss_mb(proc.pid)
    print()
    print("Flow page in Chromium (local server, this machine)")
    print(f"{'what':52s} {'median s':>9s} {'max s':>7s}")
    for what, med, mx in rows:
        print(f"{what:52s} {med:9.2f} {mx:7.2f}")
    print(f"exceptions on the page: {len(errors)}; server peak RSS {rss:.0f} MB")
    return rows


if __name__ == "__main__":
    main()
