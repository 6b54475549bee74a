"""Bench: every page in headless Chromium against a real server.

    .venv/bin/python bench/bench_app.py [--redraws 10] [pages ...]

Prints, per page: first complete render cold (fresh server) and warm (new session),
slider-change redraw (median and max of N), exceptions seen, and the server's peak RSS
after visiting every page. Targets (DESIGN.md): render < 2 s, redraw < 0.5 s median,
server memory < 2 GB.
"""
import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pagetime import measure_pages, print_table  # noqa: E402
from core.app_pages import HOME, PAGES  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("pages", nargs="*", help="url paths (default: every page, home first)")
    ap.add_argument("--redraws", type=int, default=10)
    a = ap.parse_args()
    paths = a.pages or [HOME.url_path] + [p.url_path for p in PAGES]
    rows = measure_pages(paths, redraws=a.redraws)
    print_table(rows, f"GenLab pages in headless Chromium ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
                      f"load average {os.getloadavg()[0]:.1f})")
