"""Bench: a class at once. N students open a lesson on one GenLab server at the same moment.

    .venv/bin/python bench/bench_load.py                      # N = 10 and 30, the full lesson path
    .venv/bin/python bench/bench_load.py --n 10 30            # the same, explicitly
    .venv/bin/python bench/bench_load.py --n 3 --short        # a quick check on a busy machine
    .venv/bin/python bench/bench_load.py --n 30 --path gan flow   # only some stops of the lesson
    .venv/bin/python bench/bench_load.py --all-pages          # one session visits every page: peak RSS

What runs: a fresh Streamlit server on 127.0.0.1 (``tests/browser.py: streamlit_server``) per N, warmed by
one session that walks the lesson once (the teacher opened it before class; ``--cold`` skips that), then
ONE headless Chromium with N browser contexts (one per student, so N separate Streamlit sessions) driven
concurrently by Playwright's async API. Every student walks the lesson path: open a page (a teacher's lesson
link, i.e. a URL with parameters, by URL; a plain page from the sidebar of the open tab, as students move
through the lecture; ``--reload`` opens every stop by URL, a full page load each), nudge sliders in
the main area with the keyboard, click the page's bounded "Train" button on the default preset (the GAN's
100-iteration lesson link; a 250-step flow), and draw new samples. Each step is one timed interaction:
from the action until the rerun is over and the page redrawn (the same measure as ``browser.change_and_time``).

A failure is a step that timed out, raised in the driver, or left a Streamlit exception box on the page.
Bounded: the path is finite, each step has ``--timeout`` seconds, the whole class ``--max-seconds``.

Server numbers: peak RSS = VmHWM of the server process (plus its children's, if any), and the largest
resident size of the whole process tree sampled every 0.25 s; CPU = utime + stime from /proc/<pid>/stat
(children included) used while the class ran (and in all, with start-up and warm-up). Chromium runs on the
same machine, so on a small box the students' browsers compete with the server for the CPUs: say so when
quoting the numbers. Targets (issue 10): no failures at N = 30, p95 per interaction < 3 s, RSS < 2 GB.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pagetime import print_table as table  # noqa: E402
from core.app_pages import HOME, PAGES  # noqa: E402
from tests import browser  # noqa: E402

VIEWPORT = {"width": 1400, "height": 1000}
# the visible sliders of the main area (not those folded away in a settings expander)
SLIDERS = '[data-testid="stMain"] [data-testid="stSlider"] input[type=range] >> visible=true'
RUNNING_JS = """() => { const a = document.querySelector('[data-testid="stApp"]');
                        return !!a && a.getAttribute('data-test-script-state') !== 'notRunning'; }"""


@dataclass(frozen=True)
class Stop:
    """One page of the lesson: open ``url``, nudge ``sliders`` sliders, then click ``button`` (a regex on the
    button's accessible name) ``clicks`` times. ``kind`` names what the click is (train / sample)."""
    url: str
    sliders: int = 2
    button: str | None = None
    kind: str = "train"
    clicks: int = 1


#: The lecture's order, as a teacher walks it: each stop is a page a student opens from a lesson link.
LESSON = [
    Stop("bayes", sliders=2),
    Stop("gan?n=100", sliders=1, button=r"^(model_training\s*)?Train$"),            # 100 iterations, own session
    Stop("vae", sliders=2),
    Stop("flow?steps=250", sliders=2, button=r"^(model_training\s*)?(Train live|Retrain)$"),  # 250 steps, shared
    Stop("diffusion", sliders=2),
    Stop("guided", sliders=2),
    Stop("text_to_image?n=2&steps=10", sliders=1, button=r"^(casino\s*)?New seed$", kind="sample"),
]
SHORT = [LESSON[0], LESSON[1]]
SHOT: str | None = None  # --shot PATH: a screenshot of student 0's last page
RELOAD = False  # --reload: open every stop by its URL (a full page load), not plain pages from the sidebar


# ------------------------------------------------------------------------------------------- the server's numbers

def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (scanning /proc: the server normally has none)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree, plus what its waited-for children used (cutime + cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for i, p in enumerate(_tree(pid)):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields after the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
        total += (int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if i == 0 else 0)) / tick
    return total


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the server plus its children's (``browser.peak_rss_mb`` for each process)."""
    return sum(browser.peak_rss_mb(p) for p in _tree(pid) if Path(f"/proc/{p}/status").exists())


class RssSampler:
    """The largest resident size of the whole process tree at any sampled moment (every ``every`` s)."""

    def __init__(self, pid: int, every: float = 0.25):
        self.pid, self.every, self.max_mb = pid, every, 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.max_mb = max(self.max_mb, sum(_status_kb(p, "VmRSS") for p in _tree(self.pid)) / 1024)
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


# ------------------------------------------------------------------------------------------- one student

async def _wait_rendered(page, timeout_s: float):
    await page.wait_for_function(browser._IDLE_JS, timeout=timeout_s * 1000, polling=50)


async def _timed(page, action, timeout_s: float) -> float:
    """Seconds from ``action()`` until the rerun it started is over (async ``browser.change_and_time``)."""
    t0 = time.perf_counter()
    await action()
    try:  # a very fast rerun may be over before we look
        await page.wait_for_function(RUNNING_JS, timeout=2000, polling=10)
    except Exception:  # noqa: BLE001
        pass
    await _wait_rendered(page, timeout_s)
    return time.perf_counter() - t0


async def _exceptions(page) -> int:
    return await page.locator('[data-testid="stException"]').count()


async def _queued(page) -> bool:
    texts = await page.locator('[data-testid="stAlert"], [data-testid="stStatusWidget"]').all_inner_texts()
    return any("queue" in t.lower() for t in texts)


async def student(i: int, chromium, base: str, path: list[Stop], timeout_s: float, deadline: float,
                  records: list[dict]) -> None:
    ctx = await chromium.new_context(viewport=VIEWPORT)
    page = await ctx.new_page()

    async def step(stop: Stop, kind: str, action) -> bool:
        if time.perf_counter() > deadline:
            return False
        rec = {"student": i, "page": stop.url.split("?")[0], "kind": kind, "ok": False, "seconds": float("nan"),
               "error": "", "queued": False}
        before = 0 if kind == "open" else await _exceptions(page)
        try:
            rec["seconds"] = await _timed(page, action, timeout_s)
            n_exc = await _exceptions(page)
            rec["ok"] = n_exc <= before
            if not rec["ok"]:
                rec["error"] = "exception shown: " + (await page.locator('[data-testid="stException"]').first
                                                      .inner_text())[:200].replace("\n", " ")
            if kind != "open":
                rec["queued"] = await _queued(page)
        except Exception as e:  # noqa: BLE001 - timeouts and driver errors are the failures we count
            rec["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        records.append(rec)
        return rec["ok"]

    async def open_stop(stop: Stop, first: bool):
        # a lesson link (a URL with parameters) is opened by URL; a plain page from the sidebar of the open tab,
        # as a student moving through the lecture does (--reload: every stop by URL, a full page load each)
        if first or RELOAD or "?" in stop.url:
            await page.goto(f"{base}/{stop.url}", wait_until="commit")
        else:
            await page.locator(f'[data-testid="stSidebarNav"] a[href$="/{stop.url}"]').first.click(timeout=timeout_s * 1000)

    try:
        opened = False
        for stop in path:
            ok = await step(stop, "open", lambda s=stop, f=not opened: open_stop(s, f))
            opened = opened or ok
            if not ok:
                continue  # this page failed or time is up: the next page starts afresh
            sliders = page.locator(SLIDERS)
            n = await sliders.count()
            for j in range(min(stop.sliders, 2 * n) if n else 0):
                slider = sliders.nth(j % n)

                async def nudge(s=slider, j=j, n=n):
                    await s.focus()
                    await page.keyboard.press("ArrowRight" if (j // max(n, 1)) % 2 == 0 else "ArrowLeft")

                await step(stop, "slider", nudge)
            if stop.button:
                button = page.get_by_role("button", name=re.compile(stop.button))
                if await button.count():
                    for _ in range(stop.clicks):
                        await step(stop, stop.kind, lambda b=button: b.first.click(timeout=timeout_s * 1000))
                else:
                    records.append({"student": i, "page": stop.url.split("?")[0], "kind": stop.kind, "ok": False,
                                    "seconds": float("nan"), "error": f"no button matching {stop.button!r}",
                                    "queued": False})
        if i == 0 and SHOT:  # what the first student sees at the end, to check the path did what it says
            await page.screenshot(path=SHOT, full_page=True)
    finally:
        try:
            await asyncio.wait_for(ctx.close(), 30)
        except Exception:  # noqa: BLE001 - a context that will not close must not hold up the class
            pass


def client_cpu_seconds(server_pid: int) -> float:
    """CPU used by the load generator so far: this Python (``time.process_time``) plus its other child
    processes' trees (the Playwright driver and the Chromium it launched), i.e. all but the server."""
    me = os.getpid()
    children = [p for p in _tree(me)[1:] if _ppid(p) == me and p != server_pid]
    return time.process_time() + sum(cpu_seconds(p) for p in children)


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


async def run_class(base: str, n: int, path: list[Stop], timeout_s: float, max_s: float, ramp_s: float,
                    server_pid: int | None = None, usage: dict | None = None) -> list[dict]:
    from playwright.async_api import async_playwright

    exe = browser.chromium_path()
    if not exe:
        raise SystemExit("Chromium not found: install Debian's chromium or set GENLAB_CHROMIUM.")
    records: list[dict] = []
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=exe, args=browser.CHROMIUM_ARGS)
        deadline = time.perf_counter() + max_s

        async def delayed(i):
            await asyncio.sleep(ramp_s * i / max(n, 1))
            try:  # a hard bound on each student, whatever the browser does
                await asyncio.wait_for(student(i, chromium, base, path, timeout_s, deadline, records),
                                       max_s + 3 * timeout_s)
            except TimeoutError:
                records.append({"student": i, "page": "?", "kind": "open", "ok": False, "seconds": float("nan"),
                                "error": "student stopped: past the class's time bound", "queued": False})

        try:
            await asyncio.gather(*(delayed(i) for i in range(n)))
        finally:
            if server_pid is not None and usage is not None:  # before Chromium exits and its counters go
                usage["client_cpu_s"] = client_cpu_seconds(server_pid)
            await chromium.close()
    return records


# ------------------------------------------------------------------------------------------- the tables

def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo = int(k)
    return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (k - lo)


def summarise(records: list[dict], kinds: list[str] | None = None) -> dict:
    rs = [r for r in records if kinds is None or r["kind"] in kinds]
    ok = [r["seconds"] for r in rs if r["ok"]]
    return {"interactions": len(rs), "failures": sum(not r["ok"] for r in rs),
            "p50_s": _pct(ok, 0.5), "p95_s": _pct(ok, 0.95), "max_s": max(ok) if ok else float("nan"),
            "queued": sum(r["queued"] for r in rs)}


def machine() -> str:
    return (f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load average before "
            f"{os.getloadavg()[0]:.1f}")


def check_path(path: list[Stop]) -> None:
    known = {p.url_path for p in PAGES}
    missing = [s.url for s in path if s.url.split("?")[0] not in known]
    if missing:
        raise SystemExit(f"lesson stops not in core.app_pages.PAGES: {missing}")


def load_test(ns: list[int], path: list[Stop], timeout_s: float, max_s: float, ramp_s: float, warm: bool):
    check_path(path)
    env = {"OMP_WAIT_POLICY": "PASSIVE"}
    rows, detail, failures = [], [], []
    for n in ns:
        with browser.streamlit_server(timeout=120, env=env) as (base, proc):
            if warm:  # the teacher opened the lesson before class: caches and imports are warm
                asyncio.run(run_class(base, 1, path, max(timeout_s, 300), 1800, 0))
            cpu0, t0, usage = cpu_seconds(proc.pid), time.perf_counter(), {}
            client0 = time.process_time()
            with RssSampler(proc.pid) as sampler:
                records = asyncio.run(run_class(base, n, path, timeout_s, max_s, ramp_s, proc.pid, usage))
            wall, cpu1 = time.perf_counter() - t0, cpu_seconds(proc.pid)
            peak = peak_rss_mb(proc.pid)
        s = summarise(records)
        rows.append({"N": n, **{k: v for k, v in s.items() if k != "max_s"}, "wall_s": wall,
                     "server_peak_rss_mb": peak, "tree_rss_max_mb": sampler.max_mb,
                     "server_cpu_s": cpu1 - cpu0, "server_cpu_total_s": cpu1,
                     "client_cpu_s": usage.get("client_cpu_s", float("nan")) - client0})
        for kind in ("open", "slider", "train", "sample"):
            k = summarise(records, [kind])
            if k["interactions"]:
                detail.append({"N": n, "kind": kind, **k})
        failures += [r for r in records if not r["ok"]]
        print(f"N = {n} done: {rows[-1]}", flush=True)  # progress, in case a later N is cut short
    where = f"{machine()}; lesson: " + " -> ".join(s.url for s in path) + ("; warmed by one session" if warm else "; cold") \
        + ("; every stop opened by URL" if RELOAD else "; lesson links by URL, plain pages from the sidebar")
    table(rows, f"A class at once: N concurrent students, one server ({where})")
    table(detail, "By kind of interaction (seconds of the successful ones)")
    if failures:
        print("\nFailures (first 15):")
        for r in failures[:15]:
            print(f"- student {r['student']} {r['page']} {r['kind']}: {r['error']}")


def all_pages(timeout_s: float) -> None:
    """One session visits every page once; the server's memory after each, and its peak."""
    rows = []
    with browser.streamlit_server(timeout=120, env={"OMP_WAIT_POLICY": "PASSIVE"}) as (base, proc), \
            browser.chromium() as chromium:
        page = chromium.new_context(viewport=VIEWPORT).new_page()
        for spec in [HOME, *PAGES]:
            t = browser.open_and_time(page, f"{base}/{spec.url_path}", timeout_s)
            rows.append({"page": spec.url_path or "home", "first_render_s": t,
                         "exceptions": len(browser.exceptions_on(page)),
                         "server_rss_mb": _status_kb(proc.pid, "VmRSS") / 1024, "server_peak_rss_mb": peak_rss_mb(proc.pid)})
        cpu = cpu_seconds(proc.pid)
    table(rows, f"Every page once in one session ({machine()}); server CPU {cpu:.0f} s in all")
    peak = rows[-1]["server_peak_rss_mb"]
    print(f"\nServer peak RSS with every page visited: {peak:.0f} MB (target < 2048 MB: "
          f"{'met' if peak < 2048 else 'NOT met'})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10, 30], help="class sizes (default 10 30)")
    ap.add_argument("--short", action="store_true", help="a two-page path (bayes, gan): a quick check")
    ap.add_argument("--path", nargs="+", metavar="PAGE", help="only these stops of the lesson (url paths)")
    ap.add_argument("--all-pages", action="store_true", help="one session visits every page: peak RSS")
    ap.add_argument("--timeout", type=float, default=60, help="seconds one interaction may take (default 60)")
    ap.add_argument("--max-seconds", type=float, default=900, help="bound on the whole class (default 900)")
    ap.add_argument("--ramp", type=float, default=0, help="spread the students' arrival over this many seconds")
    ap.add_argument("--shot", metavar="PNG", help="save a screenshot of the first student's last page")
    ap.add_argument("--cold", action="store_true", help="no warm-up session before the class")
    ap.add_argument("--reload", action="store_true",
                    help="open every stop by its URL (a full page load each), not plain pages from the sidebar")
    a = ap.parse_args()
    SHOT = a.shot
    RELOAD = a.reload
    if a.all_pages:
        all_pages(max(a.timeout, 180))
    else:
        path = SHORT if a.short else LESSON
        if a.path:
            path = [s for s in LESSON if s.url.split("?")[0] in a.path]
            if len(path) != len(a.path):
                raise SystemExit(f"--path takes stops of the lesson: {[s.url.split('?')[0] for s in LESSON]}")
        load_test(a.n, path, a.timeout, a.max_seconds, a.ramp, not a.cold)
