"""The server's one admission path (core.admission): a cap on heavy actions at once, a cap on one action's
seconds, tickets released exactly once whatever ends the action."""
import threading
import time

import pytest

from core import admission


def test_tickets_beyond_the_cap_are_refused_or_wait_and_release_is_idempotent():
    gate = admission.Gate(n=2, seconds=60)
    a, b = gate.try_enter("a"), gate.try_enter("b")
    assert a and b and gate.try_enter("c") is None and gate.free() == 0
    assert sorted(gate.running()) == ["a", "b"]
    a.release()
    a.release()  # a finally after an explicit release frees nothing more
    assert gate.free() == 1
    with gate.try_enter("c") as c:
        assert gate.free() == 0 and not c.expired()
    assert gate.free() == 1 and gate.running() == ["b"]
    x = gate.try_enter("x")
    threading.Timer(0.3, b.release).start()
    t0 = time.monotonic()
    with gate.enter("d", wait=5):  # waits for b
        assert time.monotonic() - t0 >= 0.2
    x.release()
    with pytest.raises(admission.Busy):
        with gate.enter("e", wait=5), gate.enter("f", wait=5), gate.enter("g", wait=0.2):
            pass
    assert gate.free() == 2  # the two entered before the refusal were released by their with blocks


def test_a_ticket_expires_at_the_time_cap_and_costs_above_it_are_refused():
    gate = admission.Gate(n=1, seconds=0.2)
    with gate.try_enter("slow") as t:
        assert not t.expired()
        time.sleep(0.3)
        assert t.expired() and t.elapsed() >= 0.3
    admission.reset_gate(n=1, seconds=100)
    try:
        admission.check_cost(99, "fine")
        with pytest.raises(admission.TooCostly, match="about 150 s.*100 s"):
            admission.check_cost(150, "Measuring")
    finally:
        admission.reset_gate()


def test_the_caps_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GENLAB_MAX_TRAININGS", "3")
    monkeypatch.setenv("GENLAB_MAX_TRAIN_SECONDS", "42")
    try:
        g = admission.reset_gate()
        assert g.n == 3 and g.seconds == 42
    finally:
        monkeypatch.undo()
        admission.reset_gate()


def test_one_thread_policy_nothing_but_runtime_sets_torchs_thread_count():
    """Torch's thread count is process-wide: pages and core functions that saved, set and restored it per
    request raced (two text-to-image sessions left every later script thread on 1 thread instead of 2).
    Only core.runtime sets it, once per process (the CLIs at start, the server from GENLAB_TORCH_THREADS)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = [str(p.relative_to(root)) for d in ("core", "pages") for p in (root / d).rglob("*.py")
                 if p.name != "runtime.py" and re.search(r"set_num_threads\(", p.read_text())]
    offenders += ["streamlit_app.py"] if "set_num_threads(" in (root / "streamlit_app.py").read_text() else []
    assert offenders == []


def test_server_threads_follow_the_environment_in_every_thread(monkeypatch):
    import torch

    from core import runtime

    before = torch.get_num_threads()
    monkeypatch.setenv("GENLAB_TORCH_THREADS", "1")
    seen = []

    def script_thread():
        runtime.server_threads()
        seen.append(torch.get_num_threads())

    try:
        threads = [threading.Thread(target=script_thread) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == [1, 1, 1, 1]
        monkeypatch.setenv("GENLAB_TORCH_THREADS", "nonsense")
        assert runtime.server_threads() == 1
    finally:
        torch.set_num_threads(before)
