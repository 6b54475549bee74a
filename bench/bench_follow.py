"""Bench: how soon a class's screens follow the teacher's, with N students polling as their browsers do.

    .venv/bin/python bench/bench_follow.py                      # 30 students: one process, then 2 replicas + Redis
    .venv/bin/python bench/bench_follow.py --n 10 --replicas 2  # 10 students, two replicas only
    .venv/bin/python bench/bench_follow.py --steps 5 --every 4  # GAN walkthrough steps 1..5, a change every 4 s

For each target (``--replicas``: 1 = GenLab in one process with its in-memory class store, k > 1 = k replicas
behind HAProxy with one Redis, ``deploy.cluster``) the servers start on free 127.0.0.1 ports and are warmed (one
client per replica opens the lesson's steps: the teacher prepared the lesson). Then, all protocol clients
(``tests/stclient.py``, one thread each, no browsers):

* the teacher opens a class on the home page; N students open its join link at once (through the balancer,
  which spreads and pins them) and wait, following;
* the teacher walks the lesson: the GAN page with the walkthrough on (step 1), then steps 2..K, one change
  every ``--every`` seconds;
* every student ticks its poll fragment once a second (``core.class_ui.POLL_S``: a browser's ``run_every``
  timer), on its own phase. A tick that finds the teacher moved reruns the student's app, which shows the
  teacher's page and step.

Follow delay, per student per change = (end of the student's first run that shows the teacher's new page and
step) - (end of the teacher's run that published it). With a 1-s poll it is at least the wait for the next tick
(0.5 s on average) plus the student's rerun. A change a student never showed before the next one counts as
missed (a failure). Also printed: failed ticks, the servers' CPU seconds (utime + stime of their process trees,
from /proc; Redis and HAProxy apart), the bench process's own CPU (the clients share the machine's cores with
the servers) and the load average before and after.

Measured on a 2-core machine shared with other work (load average 0.6 and 1.4 before the two runs), 30 students,
steps 1..5 every 4 s, before the GAN page shared its views: one process p50 3.40 s, p95 4.15 s, 18 of 150 changes
missed by a student (the next came first); two replicas + Redis p50 1.87 s, p95 2.21 s, max 2.25 s, none missed;
about 20 s of server CPU either way. A student's rerun of the GAN step then cost its replica about 115 ms of CPU,
so 15 students per replica moving within one second queued for about 1.7 s: the delay was the tick's phase (0-1 s)
plus that queue. Since the views of a GAN that is not the session's own are built once per process (core.ui.shared,
keyed by settings, training path and seed), a step's rerun costs 25-30 ms: two replicas + Redis, 30 students, load
average 2.8 before: p50 0.73 s, p95 1.47 s, max 1.49 s, none missed, 9.3 s of server CPU.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import resource
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stclient import RunResult, StreamlitClient

PAGE = "gan"
POLL_S = 1.0  # core.class_ui.POLL_S


# ------------------------------------------------------------------------------------------- clients

class FollowClient(StreamlitClient):
    """A following student's (or the teacher's) tab: finds and ticks the class poll fragment. Its ``run_every``
    timers are the frontend's (``StreamlitClient`` drops them on a full run and a page change), so when the class
    bar changes and the poll is drawn under a new fragment id, the tick goes to that id."""

    @property
    def poll_id(self) -> str | None:
        """A following student's poll fragment: the one ``run_every`` fragment of POLL_S (None if none)."""
        ids = [f for f, s in self.auto_reruns.items() if abs(s - POLL_S) < 1e-6]
        return ids[0] if len(ids) == 1 else None

    def tick(self, timeout: float | None = None) -> RunResult:
        """One tick of the poll's timer (an error result if there is no poll on the page)."""
        fid = self.poll_id
        if fid is None:
            return RunResult("auto_rerun", status="error", elapsed_s=0.0,
                             error=f"no poll fragment on the page (run_every fragments: {self.auto_reruns})")
        return self.auto_rerun(fid, timeout)

    def step(self) -> str | None:
        try:
            return self.widget("step").value
        except KeyError:
            return None

    def shown(self) -> tuple[str, str | None]:
        """What the page shows now: (url path, walkthrough step title or None)."""
        return self.path, self.step()

    def text(self) -> str:
        return "\n".join(self.texts())


def open_class(teacher: FollowClient) -> tuple[str, str]:
    """The teacher opens a class from the home page: ``(pretty code, lead token)``."""
    r = teacher.open("")
    if not r.ok:
        raise RuntimeError(f"teacher: {r.summary()}")
    r = teacher.click("genlab_class_open")
    if not r.ok:
        raise RuntimeError(f"teacher: {r.summary()}")
    pretty = parse_qs(teacher.query_string)["class"][0]
    lead = [t for t in teacher.texts() if "lead=" in t]
    token = parse_qs(lead[0].split("?", 1)[1])["lead"][0].strip() if lead else ""
    return pretty, token


def answered(teacher: FollowClient) -> int:
    """How many answers the teacher's bar counts for the open question (0 if it shows none)."""
    m = re.search(r"(\d+) answered", teacher.text())
    return int(m.group(1)) if m else 0


# ------------------------------------------------------------------------------------------- following

@dataclass
class Change:
    """One move of the teacher's: what the class must show, and when the teacher's run that published it ended."""
    target: tuple[str, str | None]
    published: float  # time.perf_counter()


@dataclass
class Follower:
    """A student's side of the walk: ticks, and when each shown state was first seen."""
    client: FollowClient
    seen: list[tuple[tuple[str, str | None], float]] = field(default_factory=list)
    ticks: int = 0
    failed: list[str] = field(default_factory=list)

    def note(self) -> None:
        state = self.client.shown()
        if not self.seen or self.seen[-1][0] != state:
            self.seen.append((state, time.perf_counter()))

    def run(self, stop: threading.Event, interval: float = POLL_S, timeout: float = 60.0) -> None:
        """Tick every ``interval`` on a random phase until ``stop``; a late tick goes at once (a browser's timer
        keeps firing while a run is in progress, and the server queues it)."""
        nxt = time.perf_counter() + random.random() * interval
        while not stop.is_set():
            wait = nxt - time.perf_counter()
            if wait > 0 and stop.wait(wait):
                break
            nxt = max(nxt + interval, time.perf_counter())
            r = self.client.tick(timeout)
            self.ticks += 1
            if not r.ok:
                self.failed.append(r.summary())
                if not self.client.connected:
                    break
                time.sleep(interval)
                continue
            self.note()

    def delays(self, changes: list[Change]) -> tuple[list[float], int]:
        """Follow delay per change (seconds), and how many changes this student never showed before the next."""
        out, missed = [], 0
        for i in range(len(changes)):
            d = follow_delay(self.seen, changes, i)
            if d is None:
                missed += 1
            else:
                out.append(d)
        return out, missed


def follow_delay(seen: list[tuple[tuple, float]], changes: list[Change], i: int) -> float | None:
    """Change ``i``'s follow delay for a student who showed ``seen`` [(state, first time shown), ...]: the first
    time it showed the change's target after the previous change was published and before the next one was,
    minus the end of the teacher's publishing run; None if it never did. The teacher's view is stored while its
    run still draws (the class bar, a question's figure), so a quick student may show it before that run ends:
    a delay of 0."""
    ch = changes[i]
    since = changes[i - 1].published if i > 0 else float("-inf")
    until = changes[i + 1].published if i + 1 < len(changes) else float("inf")
    hit = [t for s, t in seen if s == ch.target and since <= t < until]
    return max(0.0, hit[0] - ch.published) if hit else None


def walk(teacher: FollowClient, steps: int, every: float, log=print) -> list[Change]:
    """The teacher's lesson: the GAN page with the walkthrough on, then steps 2..``steps``, one change every
    ``every`` seconds. Returns the changes with the end time of each publishing run."""
    changes = []
    for action in (lambda: teacher.navigate(PAGE), lambda: teacher.set_widget("walkthrough", True)):
        r = action()
        if not r.ok:
            raise RuntimeError(f"teacher: {r.summary()}")
    changes.append(Change(teacher.shown(), time.perf_counter()))
    titles = teacher.widget("step").options
    for k in range(2, steps + 1):
        time.sleep(every)
        r = teacher.set_widget("step", titles[k - 1])
        if not r.ok:
            raise RuntimeError(f"teacher: {r.summary()}")
        changes.append(Change(teacher.shown(), time.perf_counter()))
        log(f"    teacher at step {k} ({r.elapsed_s:.2f} s)")
    time.sleep(every)  # the last change gets as long as the others
    return changes


# ------------------------------------------------------------------------------------------- one class

def run_class(url: str, n: int, steps: int, every: float, timeout: float, pin: dict | None = None,
              log=print) -> dict:
    """One class on ``url``: the teacher, ``n`` students following, the walk; returns the raw numbers."""
    teacher = FollowClient(url, timeout=timeout, cookie=pin)
    pretty, _ = open_class(teacher)
    students = [Follower(FollowClient(url, timeout=timeout)) for _ in range(n)]
    joined, join_fail = [], []

    def join(f: Follower):
        r = f.client.open("", f"class={pretty}")
        if r.ok and f.client.poll_id is not None and "Following your teacher" in f.client.text():
            joined.append(f)
        else:
            join_fail.append(r.summary() if not r.ok else "joined without a poll or not following")

    threads = [threading.Thread(target=join, args=(f,)) for f in students]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log(f"    {len(joined)}/{n} students joined")
    stop = threading.Event()
    tickers = [threading.Thread(target=f.run, args=(stop, POLL_S, timeout), daemon=True) for f in joined]
    for t in tickers:
        t.start()
    try:
        changes = walk(teacher, steps, every, log)
    finally:
        stop.set()
        for t in tickers:
            t.join(timeout + 5)
        for f in students:
            f.client.close()
        teacher.close()
    delays, missed = [], 0
    for f in joined:
        d, m = f.delays(changes)
        delays += d
        missed += m
    return {"changes": len(changes), "joined": len(joined), "join_failures": join_fail, "delays": delays,
            "missed": missed, "ticks": sum(f.ticks for f in joined),
            "tick_failures": [e for f in joined for e in f.failed]}


# ------------------------------------------------------------------------------------------- servers

def warm(urls: list[str], steps: int, timeout: float) -> None:
    """One client per server opens the lesson's steps (the teacher prepared the lesson before class)."""
    for u in urls:
        c = StreamlitClient(u, timeout=max(timeout, 300))
        for k in range(1, steps + 1):
            r = c.open(PAGE, f"walkthrough=true&step={k}")
            if not r.ok:
                print(f"  warm-up {u}: {r.summary()}", flush=True)
        c.close()


@contextlib.contextmanager
def servers(replicas: int):
    """``(url, direct urls, server pids, haproxy pid, redis pid)``: GenLab in one process (its class store in
    memory), or ``replicas`` processes behind HAProxy sharing one Redis (``deploy.cluster``)."""
    from bench.bench_class import SERVER_ENV, genlab_server

    if replicas == 1:
        with genlab_server() as (url, direct, pids, _):
            yield url, direct, pids, None, None
        return
    from deploy.cluster import cluster

    with cluster(replicas=replicas, env=SERVER_ENV, redis=True) as c:
        yield (c.url, [c.replica_url(i) for i in range(replicas)], [p.pid for _, p in c.replicas], c.haproxy.pid,
               c.redis.pid)


def measure(replicas: int, args) -> dict:
    from bench.bench_load import cpu_seconds

    with servers(replicas) as (url, direct, pids, balancer, redis_pid):
        warm(direct, args.steps, args.timeout)
        load0 = os.getloadavg()
        cpu0 = sum(cpu_seconds(p) for p in pids)
        lb0 = cpu_seconds(balancer) if balancer else 0.0
        rd0 = cpu_seconds(redis_pid) if redis_pid else 0.0
        me0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        res = run_class(url, args.n, args.steps, args.every, args.timeout, log=lambda m: print(m, flush=True))
        wall = time.perf_counter() - t0
        me1 = resource.getrusage(resource.RUSAGE_SELF)
        res.update(target="genlab" if replicas == 1 else f"genlab-x{replicas} + redis", replicas=replicas,
                   server_cpu=sum(cpu_seconds(p) for p in pids) - cpu0,
                   haproxy_cpu=(cpu_seconds(balancer) - lb0) if balancer else float("nan"),
                   redis_cpu=(cpu_seconds(redis_pid) - rd0) if redis_pid else float("nan"),
                   bench_cpu=(me1.ru_utime + me1.ru_stime) - (me0.ru_utime + me0.ru_stime), wall=wall,
                   load_before=load0[0], load_after=os.getloadavg()[0])
    return res


def main(argv: list[str] | None = None) -> int:
    from bench.bench_load import _pct, machine
    from bench.pagetime import print_table

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=30, help="students (default 30)")
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 2],
                    help="targets: 1 = one process, k > 1 = k replicas behind HAProxy with Redis (default 1 2)")
    ap.add_argument("--steps", type=int, default=5, help="GAN walkthrough steps the teacher walks, 1..K (default 5)")
    ap.add_argument("--every", type=float, default=4.0, help="seconds between the teacher's changes (default 4)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds one run may take (default 60)")
    args = ap.parse_args(argv)
    if args.replicas != [1] and any(k > 1 for k in args.replicas):
        from deploy.cluster import haproxy_path, redis_path

        if haproxy_path() is None or redis_path() is None:
            print("replicas need haproxy and redis-server installed; measuring one process only")
            args.replicas = [k for k in args.replicas if k == 1]
    command = "python bench/bench_follow.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = machine()
    results = []
    for k in args.replicas:
        print(f"{'one process' if k == 1 else f'{k} replicas + Redis'}: {args.n} students ...", flush=True)
        res = measure(k, args)
        d = res["delays"]
        print(f"  {len(d)} delays, p50 {_pct(d, 0.5):.2f} s, p95 {_pct(d, 0.95):.2f} s, {res['missed']} missed, "
              f"{len(res['tick_failures'])} failed ticks, server CPU {res['server_cpu']:.1f} s", flush=True)
        results.append(res)
    rows = []
    for r in results:
        d = r["delays"]
        rows.append({"target": r["target"], "students": f"{r['joined']}/{args.n}", "changes": r["changes"],
                     "delays": len(d), "p50_s": _pct(d, 0.5), "p95_s": _pct(d, 0.95),
                     "max_s": max(d) if d else float("nan"),
                     "failures": r["missed"] + len(r["tick_failures"]) + len(r["join_failures"]),
                     "ticks": r["ticks"], "server_cpu_s": r["server_cpu"], "haproxy_cpu_s": r["haproxy_cpu"], "redis_cpu_s": r["redis_cpu"],
                     "bench_cpu_s": r["bench_cpu"], "wall_s": r["wall"],
                     "load_before": r["load_before"], "load_after": r["load_after"]})
    print(f"\n$ {command.strip()}")
    print_table(rows, f"Follow delay ({header}; {args.n} students each tick their poll every {POLL_S:.0f} s; the "
                      f"teacher walks /{PAGE} walkthrough steps 1..{args.steps}, a change every {args.every:g} s). "
                      "delay = end of the student's first run showing the teacher's page and step - end of the "
                      "teacher's run that published it; failures = changes a student never showed before the next "
                      "+ failed ticks + failed joins; server_cpu_s = the replicas' process trees during the class "
                      "(HAProxy and Redis apart); bench_cpu_s = this process (all clients)")
    for r in results:
        errs = r["join_failures"] + r["tick_failures"]
        if errs:
            print(f"\n{r['target']}: {len(errs)} errors, first 5:")
            for e in errs[:5]:
                print(f"- {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
