"""Benchmark of the VAE family (run by hand; never part of the test gate).

    .venv/bin/python bench/bench_vae.py [--threads 2] [--skip-train] [--skip-page]

1. Trains the default MNIST VAE (2-D latent, the config of the shipped ``vae_mnist_z2_beta1``) with
   ``--threads`` torch threads, timing how long it takes to reach the shipped test ELBO (within
   ``--tol`` nats) and to finish, then reports its test ELBO and the IWAE (K=50) estimate of ln p(x),
   in nats per image, beside the shipped checkpoint's.
2. Evaluates every shipped checkpoint: test recon, KL, ELBO, IWAE K=50 and the ELBO gap.
3. Times the page: in a real browser with ``bench.pagetime`` (cold and warm first render, slider redraws,
   server memory) and with AppTest (server-side script time per widget change).

Torch threads: ``--threads`` for training (default 2, the machine's cores). On a CPU shared with other
processes, OpenMP's busy-waiting makes 2 threads up to 10x slower than 1 (measured here); the bench sets
``OMP_WAIT_POLICY=PASSIVE`` (unless already set) before torch loads, which removes that effect.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP; see the docstring

import torch  # noqa: E402

from core import runtime, vae  # noqa: E402


def table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print()


def test_metrics(model, data, k=50, seed=0):
    e = vae.elbo_terms(model, data.x_test, seed=seed, samples=10 if model.is_vae else 1)
    out = {"recon": e["recon"]}
    if model.is_vae:
        out.update(kl=e["kl"], elbo=e["elbo"], iwae=vae.iwae_log_prob(model, data.x_test, k=k, seed=seed).mean().item())
    return out


def bench_train(threads: int, tol: float):
    ref = vae.load_shipped("vae_mnist_z2_beta1", device="cpu")
    cfg = ref.config
    target = ref.meta["test/elbo"]
    data = vae.load_data(cfg)
    torch.set_num_threads(threads)
    reached = {}
    t0 = time.perf_counter()

    def cb(step, m):
        if "test/elbo" in m and "t" not in reached and m["test/elbo"] >= target - tol:
            reached.update(t=time.perf_counter() - t0, step=step)

    model = vae.train(cfg, data, cb, device="cpu")
    total = time.perf_counter() - t0
    new, shipped = test_metrics(model, data), test_metrics(ref, data)
    print(f"## Training the default MNIST VAE (latent 2, beta 1, hidden {cfg.hidden}, {cfg.steps} steps, "
          f"batch {cfg.batch_size}) on {threads} CPU thread(s) [{runtime.device_label('cpu')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, load average {os.getloadavg()[0]:.1f}]\n")
    table([
        [f"time to shipped test ELBO (within {tol:.1f} nats)",
         f"{reached['t']:.1f} s (step {reached['step']})" if reached else "not reached", ""],
        ["time for all steps", f"{total:.1f} s ({cfg.steps / total:.0f} steps/s)",
         f"{ref.meta.get('wall_seconds', float('nan')):.1f} s on {ref.meta.get('threads', '?')} thread(s)"],
        ["test ELBO (nats/image, 10 eps draws)", f"{new['elbo']:.2f}", f"{shipped['elbo']:.2f}"],
        ["test IWAE K=50 ln p(x) (nats/image)", f"{new['iwae']:.2f}", f"{shipped['iwae']:.2f}"],
        ["gap IWAE - ELBO", f"{new['iwae'] - new['elbo']:.2f}", f"{shipped['iwae'] - shipped['elbo']:.2f}"],
    ], ["", "this run", "shipped checkpoint"])


def bench_shipped():
    print("## Shipped checkpoints on the 1,000 MNIST test images (nats per image)\n")
    rows = []
    for name, what in vae.SHIPPED.items():
        m = vae.load_shipped(name, device="cpu")
        data = vae.load_data(m.config)
        t = test_metrics(m, data)
        f = lambda k, t=t: f"{t[k]:.2f}" if k in t else "-"
        gap = f"{t['iwae'] - t['elbo']:.2f}" if "iwae" in t else "-"
        rows.append([name, what, f("recon"), f("kl"), f("elbo"), f("iwae"), gap,
                     f"{m.meta.get('wall_seconds', float('nan')):.0f} s"])
    table(rows, ["checkpoint", "model", "recon", "KL", "ELBO", "IWAE K=50", "gap", "train time (1 thread)"])


def bench_page(redraws: int = 10):
    """Real browser (bench.pagetime): cold and warm first render, slider redraws; then AppTest (server side only):
    the script's own time for a new session on warm caches and for a change of each main slider."""
    print(f"## Page timing (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n")
    try:
        from bench.pagetime import measure_pages

        row = measure_pages(["vae"], redraws=redraws)[0]
        table([[f"{row['cold_s']:.2f} s", f"{row['warm_s']:.2f} s", f"{row['redraw_median_s']:.2f} s",
                f"{row['redraw_max_s']:.2f} s", row["errors"], f"{row['server_peak_rss_mb']:.0f} MB"]],
              ["browser: cold first render", "warm first render (new session)", "slider redraw median",
               "redraw max", "errors", "server peak RSS"])
    except Exception as e:  # no Chromium here: say so and go on with AppTest
        print(f"(browser timing skipped: {e})\n")

    from tests.pagetest import open_page

    t0 = time.perf_counter()
    at = open_page("pages/vae.py")
    cold = time.perf_counter() - t0
    if at.exception:
        print("page raised:", [e.value for e in at.exception])
        return
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        open_page("pages/vae.py")
        warm.append(time.perf_counter() - t0)
    moves = {"noise": (0.8, 0.2), "grid": (20, 10), "span": (3.0, 2.0), "nsamp": (32, 8), "isteps": (15, 5)}
    rows = [["first render, cold (in-process caches empty; imports already done)", f"{cold:.2f} s"],
            ["first render, new session on warm caches (median of 3)", f"{statistics.median(warm):.2f} s"]]
    allt = []
    for key, values in moves.items():
        ts = []
        for i in range(4):
            t0 = time.perf_counter()
            at.slider(key=key).set_value(values[i % 2]).run()
            ts.append(time.perf_counter() - t0)
        allt += ts
        rows.append([f"redraw after changing '{key}' (median of 4)", f"{statistics.median(ts):.3f} s"])
    for key, value in (("img", 123), ("eps", 5)):
        t0 = time.perf_counter()
        at.number_input(key=key).set_value(value).run()
        rows.append([f"redraw after changing '{key}' (new image: posterior grid, reparameterization)",
                     f"{time.perf_counter() - t0:.3f} s"])
    rows.append(["all slider redraws: median", f"{statistics.median(allt):.3f} s"])
    print(f"AppTest (server-side script time, no browser), torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}:\n")
    table(rows, ["", "seconds"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tol", type=float, default=0.5, help="nats below the shipped test ELBO that count as reached")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-page", action="store_true")
    p.add_argument("--redraws", type=int, default=10)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if not a.skip_train:
        bench_train(a.threads, a.tol)
    bench_shipped()
    if not a.skip_page:
        bench_page(a.redraws)


if __name__ == "__main__":
    main()
