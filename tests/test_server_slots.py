"""A shared server stays up for everyone: against a real ``streamlit run`` with ONE training slot
(``GENLAB_MAX_TRAININGS=1``), a visitor presses Train (or Play, or Train again) on every page that trains
and closes the tab mid-run; the next visitor must still get the slot at once and a finished run.

Before the admission path (``core.admission``) the slot was released when the progress box was garbage-
collected, which never happened while the page module kept it reachable: every later Train on the server
queued, then failed with "The server is busy", with the CPU idle. Two sessions racing on torch's
process-wide thread count are checked too: the server keeps its one policy whatever they run.
"""
from __future__ import annotations

import re
import time

import pytest

from tests import browser
from tests.stclient import StreamlitClient

pytestmark = pytest.mark.timeout(420)

ENV = {"GENLAB_MAX_TRAININGS": "1", "GENLAB_MAX_TRAIN_SECONDS": "120"}

# page, a link whose Train runs long (closed mid-run), a link whose Train is quick (the next visitor), button
TRAINERS = [
    ("gan", "n=5000", "n=100", "train"),
    ("vae", "model=train+my+own&lsteps=6000", "model=train+my+own&lsteps=100&seed=3", "train"),
    ("flow", "steps=8000", "steps=250&seed=5", "train"),
    ("diffusion", "tsteps=4000&data=Two+moons&seed=1", "tsteps=250&data=Two+moons&seed=2", "train"),
    ("compare", "budget=30&seed=4", "budget=2&seed=6", "train"),
]


def _running(msg) -> bool:
    """A delta that shows a run has started its heavy work: a progress bar or a status box being drawn."""
    if not msg.HasField("delta"):
        return False
    d = msg.delta
    if d.HasField("new_element"):
        return d.new_element.WhichOneof("type") == "progress"
    return False


def _texts(c) -> str:
    return " ".join(c.texts()) + " " + " ".join(getattr(e, "label", "") or "" for e in c.elements)


@pytest.fixture(scope="module")
def server():
    with browser.streamlit_server(env=ENV, timeout=90) as (base, proc):
        yield base, proc


def _close_mid_run(base: str, page: str, query: str, button: str) -> None:
    c = StreamlitClient(base, timeout=120)
    r = c.open(page, query)
    assert r.ok, (page, r.summary())
    c.click(button, wait=False)
    r = c.wait(timeout=90, until=_running)
    assert r.status in ("stopped", "ok"), (page, r.summary())
    c.close()  # the tab goes away mid-training


@pytest.mark.parametrize("page,long,short,button", TRAINERS, ids=[t[0] for t in TRAINERS])
def test_a_tab_closed_mid_training_gives_its_slot_to_the_next_visitor(server, page, long, short, button):
    base, proc = server
    _close_mid_run(base, page, long, button)
    time.sleep(1.0)
    with StreamlitClient(base, timeout=150) as c:
        r = c.open(page, short)
        assert r.ok, r.summary()
        t0 = time.perf_counter()
        r = c.click(button, timeout=150)
        waited = time.perf_counter() - t0
        text = _texts(c)
        assert r.ok, r.summary()
        assert "The server is busy" not in text, f"{page}: the slot of the closed tab was never given back"
        assert waited < 120, f"{page}: the next visitor waited {waited:.0f} s"
    assert proc.poll() is None


def test_play_holds_a_slot_only_while_a_tick_runs(server):
    """Play trains in ticks, each holding the slot only while it trains: a tab closed while playing leaves
    nothing held, and a Train elsewhere starts at once."""
    base, _ = server
    c = StreamlitClient(base, timeout=60)
    r = c.open("gan", "play=true&seed=9")
    assert r.ok, r.summary()
    for _ in range(3):
        r = c.auto_rerun()
        assert r.ok, r.summary()
    c.close()
    with StreamlitClient(base, timeout=120) as d:
        assert d.open("gan", "n=100&seed=10").ok
        r = d.click("train", timeout=60)
        assert r.ok and "Queued" not in _texts(d), r.summary()


def test_two_sessions_racing_leave_the_thread_policy_alone(server):
    """Text to image in two sessions two seconds apart used to leave every later script thread on the
    wrong torch thread count for good (save/restore of a process-wide setting). Now the count is the
    server's policy, shown in the sidebar's device line, before and after."""
    base, _ = server

    def device_line(c) -> str:  # the sidebar's "Device: **cpu (N threads)**" (the same caption holds the seed)
        text = next(t for t in c.texts() if "Device:" in t)
        return re.search(r"Device: \*\*([^*]+)\*\*", text).group(1)

    with StreamlitClient(base, timeout=180) as a, StreamlitClient(base, timeout=180) as b:
        assert a.open("text_to_image", "seed=101&steps=40&n=16").ok
        first = device_line(a)
        a.set_widget("seed", 103, wait=False)
        time.sleep(1.0)
        rb = b.open("text_to_image", "seed=102&steps=60&n=16")
        ra = a.wait(timeout=180)
        assert ra.ok and rb.ok, (ra.summary(), rb.summary())
    with StreamlitClient(base, timeout=60) as c:
        assert c.open("bayes").ok
        after = device_line(c)
    assert after == first, (first, after)
    assert "cuda" in after or "1 threads" in after, after  # GENLAB_TORCH_THREADS defaults to 1
