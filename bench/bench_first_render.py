"""Bench: the first complete render of a lesson link in a new browser, through the balancer, against a bare page.

    .venv/bin/python bench/bench_first_render.py                 # 2 replicas behind the balancer, 7 rounds
    .venv/bin/python bench/bench_first_render.py --rounds 11 --link "gan?walkthrough=true&step=5"

What a student sees when they open the teacher's link: a new headless-Chromium context (empty cache, new
cookies), the lesson link through ``deploy.cluster`` (HAProxy in front of the replicas, static assets from the
precompressed store where nginx is installed), timed from navigation until Streamlit's run is over and the page
holds its content (``tests/browser.open_and_time``). The reference is the bare app's ``/chart``
(``bench/bare_app.py``: one of the same plotly maps, nothing else) served by a plain ``streamlit run``. Rounds
alternate GenLab and bare, after one warm-up of each (the teacher opened the lesson before class), and the
bytes each first visit downloaded are counted from the responses' encoded sizes. Prints one table with the
medians and GenLab's ratio to the bare page. Loopback only; bounded by ``--rounds``.
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

from bench.bench_class import bare_server  # noqa: E402
from bench.pagetime import print_table  # noqa: E402
from core.lessons import LESSONS  # noqa: E402
from deploy.cluster import cluster  # noqa: E402
from tests import browser  # noqa: E402


def first_visit(chromium, url: str, viewport: dict) -> tuple[float, float]:
    """Seconds to the first complete render in a fresh context, and the MB it downloaded (encoded)."""
    ctx = chromium.new_context(viewport=viewport)
    page = ctx.new_page()
    sizes = []

    def done(request):
        try:
            sizes.append(request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"])
        except Exception:  # noqa: BLE001 - a request cancelled by navigation
            pass

    page.on("requestfinished", done)
    try:
        t = browser.open_and_time(page, url, timeout_s=120)
        page.wait_for_timeout(300)  # late fonts and chunks still count as downloaded
        return t, sum(sizes) / 1e6
    finally:
        ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--link", default=LESSONS[0].link()[1:], help="the lesson link (path?query, no leading /)")
    ap.add_argument("--phone", action="store_true", help="a 390x844 viewport instead of 1400x1000")
    a = ap.parse_args()
    viewport = {"width": 390, "height": 844} if a.phone else {"width": 1400, "height": 1000}
    genlab_t, bare_t, genlab_mb, bare_mb = [], [], [], []
    with cluster(replicas=a.replicas) as c, bare_server() as (bare_url, *_), browser.chromium() as chromium:
        lesson, ref = f"{c.url}/{a.link}", f"{bare_url}/chart"
        first_visit(chromium, lesson, viewport)
        first_visit(chromium, ref, viewport)
        for i in range(a.rounds):
            for url, times, mbs in ((lesson, genlab_t, genlab_mb), (ref, bare_t, bare_mb))[:: 1 if i % 2 == 0 else -1]:
                t, mb = first_visit(chromium, url, viewport)
                times.append(t)
                mbs.append(mb)
            print(f"  round {i + 1}: GenLab {genlab_t[-1]:.2f} s, bare {bare_t[-1]:.2f} s", flush=True)
        static = "nginx (precompressed)" if getattr(c, "nginx", None) is not None else "the replicas (HAProxy gzip)"
    g, b = statistics.median(genlab_t), statistics.median(bare_t)
    rows = [{"page": f"GenLab /{a.link[:60]} via {a.replicas} replicas", "median_s": g, "min_s": min(genlab_t),
             "max_s": max(genlab_t), "downloaded_mb": statistics.median(genlab_mb), "x_bare": g / b},
            {"page": "bare /chart (one plotly chart), streamlit run", "median_s": b, "min_s": min(bare_t),
             "max_s": max(bare_t), "downloaded_mb": statistics.median(bare_mb), "x_bare": 1.0}]
    print_table(rows, title=f"First complete render in a new Chromium context ({time.strftime('%Y-%m-%d %H:%M')}, "
                            f"{a.rounds} rounds, viewport {viewport['width']}x{viewport['height']}, static from {static})")


if __name__ == "__main__":
    main()
