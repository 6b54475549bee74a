"""The Streamlit glue on its own: progress callback, checkpoint fallback, code expander, URL state."""
from streamlit.testing.v1 import AppTest
from core import ui


def _progress_app():
    import streamlit as st

    from core import ui

    cb = ui.TrainingProgress(total_steps=50, label="Training", every=10, chart_keys=["loss"])
    for step in range(1, 51):
        stop = cb(step, {"loss": 1.0 / step, "note": "text is ignored"})
        assert stop is False
    cb.done("Trained 50 steps")
    st.session_state["rows"] = len(cb.history)


def test_training_progress_drives_status_progress_and_chart():
    at = AppTest.from_function(_progress_app).run()
    assert not at.exception
    assert at.session_state["rows"] == 50
    assert at.status[0].label == "Trained 50 steps" and at.status[0].state == "complete"
    assert at.get("arrow_line_chart") or at.get("vega_lite_chart")


def _queued_app():
    import streamlit as st

    from core import ui

    cb = ui.TrainingProgress(total_steps=5, label="Training")
    for step in range(1, 6):
        cb(step, {"loss": 1.0})
    cb.done("Trained")


def test_live_trainings_beyond_the_servers_cap_queue_and_release_their_slot():
    import threading

    from core import ui

    sem, n = ui._training_slots()
    for _ in range(n):  # every slot taken by other sessions' trainings
        assert sem.acquire(blocking=False)
    timer = threading.Timer(1.5, sem.release)  # one of them finishes
    timer.start()
    try:
        import time

        t0 = time.perf_counter()
        at = AppTest.from_function(_queued_app).run(timeout=30)
        assert time.perf_counter() - t0 >= 1.0  # it waited in the queue for the freed slot
        assert not at.exception
        assert at.status[0].label == "Trained"
        # this run waited for the freed slot and gave it back: exactly one slot is free now
        assert sem.acquire(blocking=False)
        assert not sem.acquire(blocking=False)
        sem.release()
    finally:
        timer.join()
        for _ in range(n - 1):
            sem.release()


def _fallback_app():
    import streamlit as st

    from core import ui
    from core.checkpoints import CheckpointError

    def load():
        raise CheckpointError("Checkpoint weights x.safetensors are corrupt: their sha256 differs.")

    model = ui.load_or_offer_training(load, lambda: "trained live", "demo model")
    st.session_state["model"] = model


def test_corrupt_checkpoint_becomes_a_message_and_a_train_button():
    at = AppTest.from_function(_fallback_app).run()
    assert not at.exception
    assert "could not be loaded" in at.warning[0].value and "corrupt" in at.warning[0].value
    assert at.session_state["model"] is None
    at.button[0].click().run()
    assert at.session_state["model"] == "trained live"


def _code_and_url_app():
    import streamlit as st

    from core import bayes, ui

    url = ui.url()
    n = url.slider("n", 1, 10, 3, key="n")
    x = url.slider("x", 0.0, 1.0, 0.5, key="x")
    c = url.selectbox("c", ["a", "b"], key="c")
    st.session_state["query"] = url.query()
    st.session_state["problems"] = list(url.problems)
    ui.show_code(bayes.sample_joint)


def test_url_state_query_and_problems():
    at = AppTest.from_function(_code_and_url_app)
    at.query_params.update({"n": "7", "x": "2.5", "c": "b"})
    at.session_state[ui.SHOW_CODE_KEY] = True  # the code expander, opened
    at.run()
    assert not at.exception
    assert at.session_state["query"] == {"n": "7", "c": "b"}  # x was out of range: default, left out of the link
    assert any("x=2.5" in p for p in at.session_state["problems"])
    assert "def sample_joint" in at.code[0].value


def test_bounded_store_forgets_the_oldest_entries():
    from core.ui import BoundedStore

    s = BoundedStore(3)
    for k in "abcd":
        s[k] = k.upper()
    assert list(s) == ["b", "c", "d"]
    s["b"] = "B2"  # a rewrite makes it the newest
    s["e"] = "E"
    assert list(s) == ["d", "b", "e"] and s["b"] == "B2"
