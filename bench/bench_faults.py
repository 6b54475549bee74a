"""Bench: a hostile visitor against a real GenLab server, and whether the next visitor still gets a working page.

    .venv/bin/python bench/bench_faults.py              # every fault once, one server, one training slot
    .venv/bin/python bench/bench_faults.py --slots 2    # the default server cap instead

One ``streamlit run`` on 127.0.0.1 with ``GENLAB_MAX_TRAININGS=1`` (so a leaked slot shows at once), driven by the
websocket client (``tests/stclient.py``). Each fault is what a visitor can do from a browser: close a tab mid-
training on every page that trains, leave Play on and go, ask for a measurement far above the server's cap, put
a folder outside the allowed roots or markdown into a link, race two heavy sessions on torch's thread count.
After each, a second visitor opens a page and trains something small: the fault "survived" when that works at
once, the page shows no exception, and nothing the fault supplied is rendered as a live link or image.
Bounded: every action has a time-out, the whole run a few minutes; loopback only. Prints one table.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pagetime import print_table  # noqa: E402
from tests import browser  # noqa: E402
from tests.stclient import StreamlitClient, drawn  # noqa: E402

# page, a link whose Train runs long, the button
TRAINERS = [("gan", "n=5000"), ("vae", "model=train+my+own&lsteps=6000"), ("flow", "steps=8000"),
            ("diffusion", "tsteps=4000&data=Two+moons&seed=1"), ("compare", "budget=30&seed=4")]
EVIL_MD = "[Session expired: log in](https://evil.example/login) ![](https://evil.example/p.png)"


WAIT = 150.0  # --wait: how long the next visitor waits for its small training


_SEEDS = iter(range(1000, 2000))


def next_visitor(base: str, page: str = "gan", query: str | None = None) -> tuple[bool, str]:
    """A second visitor trains something small, with a seed nobody used yet (a model some session already
    trained would come from the server's store without a slot): (worked, what happened)."""
    query = query or f"n=100&seed={next(_SEEDS)}"
    with StreamlitClient(base, timeout=WAIT) as c:
        r = c.open(page, query)
        if not r.ok:
            return False, f"open: {r.summary()}"
        t0 = time.perf_counter()
        r = c.click("train", timeout=WAIT)
        text = " ".join(c.texts())
        if not r.ok:
            return False, f"train: {r.summary()}"
        if "server is busy" in text or "Queued" in text:
            return False, f"queued for {time.perf_counter() - t0:.0f} s"
        return True, f"trained in {time.perf_counter() - t0:.1f} s"


def closed_mid_training(base, page, query):
    c = StreamlitClient(base, timeout=120)
    r = c.open(page, query)
    if not r.ok:
        return False, f"open: {r.summary()}"
    c.click("train", wait=False)
    c.wait(timeout=90, until=drawn("progress"))
    c.close()
    time.sleep(1)
    return next_visitor(base)


def two_tabs_closed(base):
    """The issue's reproduction: two visitors press Train on long GAN runs and both close their tabs within
    seconds, holding every slot of a two-slot server."""
    tabs = []
    for seed in (71, 72):
        c = StreamlitClient(base, timeout=120)
        c.open("gan", f"seed={seed}&n=5000")
        c.click("train", wait=False)
        tabs.append(c)
    for c in tabs:
        c.wait(timeout=90, until=drawn("progress"))
    for c in tabs:
        c.close()
    time.sleep(1)
    return next_visitor(base)


def play_left_on(base):
    c = StreamlitClient(base, timeout=60)
    c.open("gan", "play=true&seed=9")
    for _ in range(3):
        c.auto_rerun()
    c.close()
    return next_visitor(base)


def measure_far_above_the_cap(base):
    with StreamlitClient(base, timeout=60) as c:
        r = c.open("guided", "view=Guidance+scale&per=64&csteps=100&sampler=DDPM")
        if not r.ok:
            return False, r.summary()
        try:
            r = c.click("measure", timeout=60)
        except KeyError:
            return True, "no Measure button for these settings"
        text = " ".join(c.texts())
        ok = r.ok and r.elapsed_s < 30 and "the server allows" in text
        return ok, f"refused before it ran ({r.elapsed_s:.1f} s)" if ok else r.summary()


def link_payload(base, page, query, must_not_link: str, expect: str = ""):
    """Open a link carrying a payload: survived when the page ran, nothing became a live link, and the page
    says ``expect`` (e.g. why a folder was refused)."""
    with StreamlitClient(base, timeout=120) as c:
        r = c.open(page, query)
        raw = " ".join(c.texts())
        live = f"]({must_not_link}" in raw.replace("\\]", "").replace("\\(", "(") and "\\[" not in raw
        ok = r.ok and not live and expect in raw
        return ok, (f"refused: '{expect}...'" if expect and ok else "shown as text" if ok else r.summary())


def racing_threads(base):
    def device(c):  # "cpu (N threads)" from the sidebar's caption (which also holds the seed)
        m = re.search(r"Device: \*\*([^*]+)\*\*", next((t for t in c.texts() if "Device:" in t), ""))
        return m.group(1) if m else "?"

    with StreamlitClient(base, timeout=180) as a, StreamlitClient(base, timeout=180) as b:
        a.open("text_to_image", "seed=101&steps=40&n=16")
        before = device(a)
        a.set_widget("seed", 103, wait=False)
        time.sleep(1.0)
        b.open("text_to_image", "seed=102&steps=60&n=16")
        a.wait(timeout=180)
    with StreamlitClient(base, timeout=60) as c:
        c.open("bayes")
        after = device(c)
    return before == after, f"{before} before, {after} after"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slots", type=int, default=1, help="GENLAB_MAX_TRAININGS of the server (default 1)")
    ap.add_argument("--wait", type=float, default=150.0, help="seconds the next visitor waits for its training")
    a = ap.parse_args()
    global WAIT
    WAIT = a.wait
    env = {"GENLAB_MAX_TRAININGS": str(a.slots), "GENLAB_MAX_TRAIN_SECONDS": "120"}
    rows = []
    with browser.streamlit_server(env=env, timeout=90) as (base, proc):
        faults = [(f"tab closed mid-training: {p}", lambda p=p, q=q: closed_mid_training(base, p, q)) for p, q in TRAINERS]
        faults += [
            ("two tabs closed mid-training within seconds", lambda: two_tabs_closed(base)),
            ("Play left on, tab closed", lambda: play_left_on(base)),
            ("Measure now at 64 per digit, 100 DDPM steps", lambda: measure_far_above_the_cap(base)),
            ("sd= a folder outside the allowed roots", lambda: link_payload(
                base, "text_to_image", f"model=Stable+Diffusion+%28local+folder+or+hub+id%29&sd={ROOT / 'checkpoints' / 't2i_shapes'}",
                "https://evil", expect="not inside a folder this server allows")),
            ("sd= markdown link and remote image", lambda: link_payload(
                base, "text_to_image", "model=Stable+Diffusion+%28local+folder+or+hub+id%29&sd=" + EVIL_MD.replace(" ", "+"),
                "https://evil.example")),
            ("prompt= markdown link", lambda: link_payload(
                base, "text_to_image", "prompt=" + EVIL_MD.replace(" ", "+"), "https://evil.example")),
            ("two sessions racing on torch threads", lambda: racing_threads(base)),
        ]
        for name, run in faults:
            t0 = time.perf_counter()
            try:
                ok, note = run()
            except Exception as e:  # noqa: BLE001 - a bench reports, it does not stop
                ok, note = False, f"{type(e).__name__}: {e}"[:120]
            alive = proc.poll() is None
            rows.append({"fault": name, "survived": "yes" if ok and alive else "NO", "what the next visitor saw": note,
                         "seconds": f"{time.perf_counter() - t0:.0f}"})
            print(f"  {name}: {'ok' if ok else 'FAILED'} ({note})", flush=True)
    print_table(rows, title=f"Faults against one server with {a.slots} training slot(s)")


if __name__ == "__main__":
    main()
