"""Bench: a class at once, at the protocol level. Locust users speak Streamlit's websocket protocol, no browsers.

    .venv/bin/python bench/bench_class.py                          # 30 users, same link: bare, GenLab, 2 replicas
    .venv/bin/python bench/bench_class.py --n 10 --scenario lesson-walk
    .venv/bin/python bench/bench_class.py --replicas 1 2 4         # GenLab alone, and 2 and 4 replicas behind HAProxy
    .venv/bin/python bench/bench_class.py --users-per-run 10 30 60 # one run per class size, for every target
    .venv/bin/python bench/bench_class.py --quick                  # 5 users, bare and one GenLab process

For each target -- the bare reference app (``bench/bare_app.py``: GenLab's NB-page figures and a page of text,
nothing else), GenLab in one process, GenLab in N replicas behind HAProxy (``deploy.cluster``) -- the server(s)
start on free 127.0.0.1 ports, one user warms them (runs the scenario's path once against every replica: the
teacher opened the lesson before class; ``--cold`` skips it), then ``locust -f bench/locustfile.py --headless
-u N -r N`` runs the class: N users arriving within one second, each doing its finite path once
(``same-link``: open one lesson link; ``lesson-walk``: the lecture's pages with two widget changes each and
the Train / Sample buttons; see ``bench/locustfile.py``). Locust's CSVs and one JSON line per interaction go to
``--out`` (default ``.cache/bench_class/<time>/``); the tables are computed from the JSON lines (exact
percentiles, not Locust's rounded ones).

Printed: p50 / p95 / max seconds per kind of interaction (until the server finished the run), failures
(exception box, time-out, dropped socket), the server's CPU seconds while the class ran (utime + stime of the
server's process tree, read from /proc; for replicas the sum over them) and per interaction, each server
process's peak RSS (VmHWM), the load generator's own CPU, and GenLab's ratio to the bare app. The Locust
process runs on the same machine and takes CPU from the server(s): its CPU is measured separately and printed,
and the servers' CPU seconds are the servers' own. One Locust process drives hundreds of protocol users; to
load a bigger deployment, run Locust's master/worker mode (``locust -f bench/locustfile.py --master`` here,
``--worker --master-host HOST`` on other machines) against the balancer.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_load import RssSampler, _pct, _tree, cpu_seconds, machine  # noqa: E402
from bench.pagetime import print_table  # noqa: E402
from core.lessons import LESSONS  # noqa: E402
from tests import browser  # noqa: E402

LOCUSTFILE = ROOT / "bench" / "locustfile.py"
BARE_APP = ROOT / "bench" / "bare_app.py"
LOCUST = Path(sys.executable).with_name("locust")
SERVER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}  # as streamlit_app.py sets it, and as bench_load.py starts servers
KINDS = ("open", "navigate", "widget", "train", "sample")


# ------------------------------------------------------------------------------------------- servers

@contextlib.contextmanager
def bare_server(timeout: float = 60):
    """``streamlit run bench/bare_app.py`` on a free 127.0.0.1 port (``tests/browser.py: streamlit_server``).

    Like the other targets it yields (the URL users open, the URL of every server process, their pids, the
    balancer's pid or None)."""
    with browser.streamlit_server(timeout=timeout, env=SERVER_ENV, script=BARE_APP) as (url, proc):
        yield url, [url], [proc.pid], None


@contextlib.contextmanager
def genlab_server():
    """GenLab in one process (``tests/browser.py: streamlit_server``)."""
    with browser.streamlit_server(timeout=120, env=SERVER_ENV) as (url, proc):
        yield url, [url], [proc.pid], None


@contextlib.contextmanager
def genlab_replicas(n: int):
    """GenLab in ``n`` processes behind HAProxy (``deploy.cluster``)."""
    from deploy.cluster import cluster

    with cluster(replicas=n, env=SERVER_ENV) as c:
        yield c.url, [c.replica_url(i) for i in range(n)], [p.pid for _, p in c.replicas], c.haproxy.pid


def replicas_available() -> str | None:
    """None if N replicas can be started here, else why not."""
    try:
        from deploy.cluster import haproxy_path
    except ImportError as e:
        return f"deploy.cluster is not importable ({e})"
    if haproxy_path() is None:
        return "haproxy is not installed (apt-get install haproxy, or set GENLAB_HAPROXY)"
    return None


# ------------------------------------------------------------------------------------------- one Locust run

def run_locust(host: str, users: int, scenario: str, out: Path, tag: str, run_time: int, timeout: float,
               link: str, pages: str = "") -> tuple[list[dict], float, float]:
    """One headless Locust run; returns (records, wall seconds, the Locust process's CPU seconds)."""
    out.mkdir(parents=True, exist_ok=True)
    records = out / f"{tag}.jsonl"
    records.unlink(missing_ok=True)
    cmd = [str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(users),
           "--run-time", f"{run_time}s", "--host", host, "--scenario", scenario, "--link", link,
           "--interaction-timeout", str(timeout), "--records", str(records), "--csv", str(out / tag),
           "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    if pages:
        cmd += ["--pages", pages]
    t0 = time.perf_counter()
    with open(out / f"{tag}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage: the load generator's CPU
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"  locust exited with {proc.returncode}; see {out / (tag + '.log')}", flush=True)
    rows = [json.loads(line) for line in records.read_text().splitlines()] if records.exists() else []
    return rows, wall, usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------------------- the numbers

def summarise(records: list[dict]) -> dict:
    ok = [r["seconds"] for r in records if r["ok"]]
    return {"n": len(records), "failures": sum(not r["ok"] for r in records),
            "p50_s": _pct(ok, 0.5), "p95_s": _pct(ok, 0.95), "max_s": max(ok) if ok else float("nan")}


def class_wall(records: list[dict]) -> float:
    """Seconds from the first interaction's start to the last one's end."""
    if not records:
        return float("nan")
    return max(r["t"] for r in records) - min(r["t"] - r["seconds"] for r in records)


def measure(name: str, server, users: int, args, out: Path, link: str) -> dict:
    """Start ``server``, warm it, run the class, read the server's CPU and memory."""
    with server as (url, direct_urls, pids, balancer):
        if not args.cold:  # the teacher's run before class: one user on every replica
            for i, u in enumerate(direct_urls):
                warm, _, _ = run_locust(u, 1, args.scenario, out, f"{name}-warm{i}", args.max_seconds,
                                        max(args.timeout, 300), link, args.pages)
                bad = [r for r in warm if not r["ok"]]
                if bad:
                    print(f"  warm-up on {u}: {len(bad)} failed: {bad[0]['kind']} {bad[0]['name']}: {bad[0]['error']}")
        trees = lambda: [p for pid in pids for p in _tree(pid)]  # noqa: E731
        cpu0 = sum(cpu_seconds(p) for p in pids)
        lb0 = cpu_seconds(balancer) if balancer else 0.0
        with contextlib.ExitStack() as stack:
            samplers = [stack.enter_context(RssSampler(pid)) for pid in pids]
            records, wall, locust_cpu = run_locust(url, users, args.scenario, out, f"{name}-n{users}",
                                                   args.max_seconds, args.timeout, link, args.pages)
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        lb = cpu_seconds(balancer) - lb0 if balancer else float("nan")
        rss = [browser.peak_rss_mb(p) for p in trees() if Path(f"/proc/{p}/status").exists()]
    return {"target": name, "records": records, "wall": wall, "locust_cpu": locust_cpu, "cpu": cpu, "balancer_cpu": lb,
            "rss": rss, "tree_rss_max": sum(s.max_mb for s in samplers), "users": users}


def report(results: list[dict], scenario: str, link: str, pages: str, cold: bool = False) -> None:
    where = (f"{machine()}; scenario {scenario}: "
             + (f"every user opens /{link} once" if scenario == "same-link" else
                f"every user walks the lecture ({pages or 'every page'})")
             + "; users arrive within 1 s; "
             + ("fresh servers, not warmed" if cold else "servers warmed by one user first"))
    rows, kinds, pages_rows, failures = [], [], [], []
    for res in results:
        recs = res["records"]
        opens = [r for r in recs if r["kind"] in ("open", "navigate")]
        s = summarise(recs)
        starts = [r["t"] - r["seconds"] for r in recs if r["kind"] == "open"]
        first_opens = sorted(starts)[:res["users"]]
        rows.append({"target": res["target"], "users": res["users"], "interactions": s["n"], "failures": s["failures"],
                     "arrivals_within_s": first_opens[-1] - first_opens[0] if first_opens else float("nan"),
                     "class_wall_s": class_wall(recs), "server_cpu_s": res["cpu"],
                     "cpu_per_open_s": res["cpu"] / len(opens) if opens and scenario == "same-link" else float("nan"),
                     "cpu_per_interaction_s": res["cpu"] / len(recs) if recs else float("nan"),
                     "peak_rss_mb": " / ".join(f"{m:.0f}" for m in res["rss"]),
                     "rss_sum_max_mb": res["tree_rss_max"],
                     "haproxy_cpu_s": res["balancer_cpu"], "locust_cpu_s": res["locust_cpu"]})
        for kind in KINDS:
            k = [r for r in recs if r["kind"] == kind]
            if k:
                conn = [r["connect_s"] for r in k if r["ok"] and r["kind"] == "open"]
                kinds.append({"target": res["target"], "users": res["users"], "kind": kind, **summarise(k),
                              "of_which_connect_p95_s": _pct(conn, 0.95) if conn else float("nan")})
        if scenario == "lesson-walk":
            for page in dict.fromkeys(r["name"] for r in recs):
                for kind in KINDS:
                    k = [r for r in recs if r["kind"] == kind and r["name"] == page]
                    if k:
                        pages_rows.append({"target": res["target"], "page": page, "kind": kind, **summarise(k)})
        failures += [(res["target"], r) for r in recs if not r["ok"]]
    print_table(rows, f"A class at once, protocol level ({where}). server_cpu_s = utime + stime of the server "
                      "process tree(s) while the class ran, from /proc; the Locust process ran on the same cores "
                      "(locust_cpu_s, not included); peak_rss_mb = VmHWM per server process; rss_sum_max_mb = each "
                      "server's largest resident memory sampled every 0.25 s, summed over the servers")
    print_table(kinds, "By kind of interaction: seconds until the server finished the run (successful ones; an open "
                       "includes the page's HTTP GET and the websocket handshake, of_which_connect)")
    if pages_rows:
        print_table(pages_rows, "By page and kind")
    bare = [r for r in results if r["target"] == "bare"]
    if bare:
        b_open = summarise([r for r in bare[0]["records"] if r["kind"] == "open"])
        b_cpu = bare[0]["cpu"] / max(1, sum(r["kind"] == "open" for r in bare[0]["records"]))
        ratio = []
        for res in results:
            if res["target"] == "bare":
                continue
            g = summarise([r for r in res["records"] if r["kind"] == "open"])
            g_cpu = res["cpu"] / max(1, sum(r["kind"] == "open" for r in res["records"]))
            ratio.append({"target": res["target"], "users": res["users"],
                          "open_p50_x_bare": g["p50_s"] / b_open["p50_s"],
                          "open_p95_x_bare": g["p95_s"] / b_open["p95_s"],
                          "open_max_x_bare": g["max_s"] / b_open["max_s"],
                          **({"cpu_per_open_x_bare": g_cpu / b_cpu} if scenario == "same-link" and b_cpu > 0 else {})})
        if ratio:
            print_table(ratio, "GenLab against the bare app (open times; same users, same machine)")
    if failures:
        print(f"\nFailures ({len(failures)}; first 15):")
        for target, r in failures[:15]:
            print(f"- {target}: {r['kind']} {r['name']} {r.get('target', '')}: {r['status']}: {r['error']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=30, help="users in the class (default 30)")
    ap.add_argument("--users-per-run", type=int, nargs="+", metavar="N",
                    help="several class sizes: one Locust run per size and target (instead of --n)")
    ap.add_argument("--scenario", choices=("same-link", "lesson-walk"), default="same-link")
    ap.add_argument("--link", default=LESSONS[0].link().lstrip("/"),
                    help="same-link: the lesson link every user opens (default the first lesson's)")
    ap.add_argument("--pages", default="", help="lesson-walk: only these pages, comma-separated (default all)")
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 2],
                    help="GenLab targets: 1 = one process, k > 1 = k replicas behind HAProxy (default 1 2)")
    ap.add_argument("--no-bare", action="store_true", help="leave out the bare reference app")
    ap.add_argument("--timeout", type=float, default=60, help="seconds one interaction may take (default 60)")
    ap.add_argument("--max-seconds", type=int, default=None,
                    help="Locust's --run-time cap per run (default 300 same-link, 1200 lesson-walk)")
    ap.add_argument("--cold", action="store_true", help="no warm-up user before the class")
    ap.add_argument("--quick", action="store_true", help="5 users, bare and one GenLab process (walk: bayes, gan)")
    ap.add_argument("--out", type=Path, help="folder for Locust's CSVs, logs and the interaction records")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.replicas = min(args.n, 5), [1]
        args.pages = args.pages or ("bayes,gan" if args.scenario == "lesson-walk" else "")
    if args.max_seconds is None:
        args.max_seconds = 300 if args.scenario == "same-link" else 1200
    sizes = args.users_per_run or [args.n]
    out = args.out or ROOT / ".cache" / "bench_class" / time.strftime("%Y%m%d-%H%M%S")
    targets = []
    if not args.no_bare:
        if args.scenario == "same-link":
            targets.append(("bare", bare_server))
        else:
            print("The bare app has only home and the NB maps: it is measured in the same-link scenario only.")
    why_not = replicas_available()
    for k in args.replicas:
        if k == 1:
            targets.append(("genlab", genlab_server))
        elif why_not:
            print(f"genlab-x{k} (GenLab in {k} replicas behind HAProxy) left out: {why_not}.")
        else:
            targets.append((f"genlab-x{k}", lambda k=k: genlab_replicas(k)))
    results = []
    for users in sizes:
        for name, make in targets:
            print(f"{name}: {users} users, {args.scenario} ...", flush=True)
            res = measure(name, make(), users, args, out, args.link)
            s = summarise(res["records"])
            print(f"  {s['n']} interactions, {s['failures']} failed, p50 {s['p50_s']:.2f} s, p95 {s['p95_s']:.2f} s, "
                  f"server CPU {res['cpu']:.1f} s, Locust CPU {res['locust_cpu']:.1f} s", flush=True)
            results.append(res)
    report(results, args.scenario, args.link, args.pages, args.cold)
    print(f"\nLocust CSVs, logs and records: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
