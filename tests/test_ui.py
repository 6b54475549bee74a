"""The Streamlit glue on its own: progress callback, checkpoint fallback, code expander, URL state."""
from streamlit.testing.v1 import AppTest

from core import ui


def _progress_app():
    import streamlit as st

    from core import ui

    with ui.TrainingProgress(total_steps=50, label="Training", every=10, chart_keys=["loss"]) as cb:
        for step in range(1, 51):
            stop = cb(step, {"loss": 1.0 / step, "note": "text is ignored"})
            assert stop is False
        cb.done("Trained 50 steps")
    st.session_state["rows"] = len(cb.history)


def test_training_progress_drives_status_progress_and_chart():
    at = AppTest.from_function(_progress_app).run(timeout=30)  # a loaded machine: not the 3-s default
    assert not at.exception
    assert at.session_state["rows"] == 50
    assert at.status[0].label == "Trained 50 steps" and at.status[0].state == "complete"
    assert at.get("arrow_line_chart") or at.get("vega_lite_chart")


def _queued_app():
    from core import ui

    with ui.TrainingProgress(total_steps=5, label="Training") as cb:
        for step in range(1, 6):
            cb(step, {"loss": 1.0})
        cb.done("Trained")


def test_live_trainings_beyond_the_servers_cap_queue_and_release_their_slot():
    import threading
    import time

    from core import admission

    gate = admission.reset_gate(n=2)
    held = [gate.try_enter("another session's training") for _ in range(gate.n)]  # every slot taken
    assert all(held) and gate.try_enter("one more") is None
    timer = threading.Timer(1.5, held[0].release)  # one of them finishes
    timer.start()
    try:
        t0 = time.perf_counter()
        at = AppTest.from_function(_queued_app).run(timeout=30)
        assert time.perf_counter() - t0 >= 1.0  # it waited in the queue for the freed slot
        assert not at.exception
        assert at.status[0].label == "Trained"
        assert gate.free() == 1 and gate.running() == ["another session's training"]  # it gave its slot back
    finally:
        timer.join()
        held[1].release()
        admission.reset_gate()


def _failing_training_app():
    from core import ui

    with ui.TrainingProgress(total_steps=5, label="Training") as cb:
        cb(1, {"loss": 1.0})
        raise RuntimeError("the model blew up")


def _stopped_training_app():
    import streamlit as st

    from core import ui

    with ui.TrainingProgress(total_steps=5, label="Training") as cb:
        cb(1, {"loss": 1.0})
        st.stop()  # what Streamlit raises in the script thread when the tab is closed or the user reruns


def test_a_training_that_raises_or_is_stopped_gives_its_slot_back():
    """The slot is released in a ``finally``, not when a progress object happens to be collected: before,
    a tab closed mid-training kept its slot for ever (its progress box stayed reachable)."""
    from core import admission

    gate = admission.reset_gate(n=1)
    try:
        at = AppTest.from_function(_failing_training_app).run(timeout=30)
        assert at.exception  # (its message is redacted by the showErrorDetails setting)
        assert at.status[0].state == "error"
        assert gate.free() == 1, gate.running()
        at = AppTest.from_function(_stopped_training_app).run(timeout=30)
        assert not at.exception
        assert gate.free() == 1, gate.running()
        at = AppTest.from_function(_queued_app).run(timeout=10)  # the next user gets the slot at once
        assert at.status[0].label == "Trained" and gate.free() == 1
    finally:
        admission.reset_gate()


def _heavy_app():
    import streamlit as st

    from core import ui

    with ui.heavy("Measuring", estimate_s=st.session_state.get("estimate", 5.0)) as ticket:
        st.session_state["ran"] = not ticket.expired()


def test_a_heavy_action_above_the_cap_is_refused_before_it_runs():
    from core import admission

    gate = admission.reset_gate(n=1, seconds=60)
    try:
        at = AppTest.from_function(_heavy_app)
        at.session_state["estimate"] = 600.0
        at.run(timeout=30)
        assert "ran" not in at.session_state and "600 s" in at.error[0].value and "60 s" in at.error[0].value
        at.session_state["estimate"] = 5.0
        at.run(timeout=30)
        assert at.session_state["ran"] is True and gate.free() == 1
    finally:
        admission.reset_gate()


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
    url.slider("n", 1, 10, 3, key="n")
    url.slider("x", 0.0, 1.0, 0.5, key="x")
    url.selectbox("c", ["a", "b"], key="c")
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


def _dependent_default_app():
    import streamlit as st

    from core import ui

    url = ui.url()
    kind = url.selectbox("kind", ["a", "b"], key="kind")
    size = url.slider("size", 1, 10, 2 if kind == "a" else 8, key="size")  # its default depends on kind
    st.session_state["shown"] = (kind, size)
    st.session_state["query"] = url.query()


def test_a_default_that_depends_on_another_setting_follows_it_unless_the_user_set_it():
    """The flow's base density by data set, in small: a value never set follows its default when the other setting
    changes (and the widget shows it), one the user set stays, and the link names whatever differs from the
    default for the current other settings, so it reopens the same view."""
    at = AppTest.from_function(_dependent_default_app).run()
    assert at.session_state["shown"] == ("a", 2)
    at.selectbox(key="kind").set_value("b").run()
    assert at.session_state["shown"] == ("b", 8) and at.slider(key="size").value == 8
    assert at.session_state["query"] == {"kind": "b"}  # size is b's default: left out, and a link reopens it
    at.slider(key="size").set_value(5).run()
    at.selectbox(key="kind").set_value("a").run()
    assert at.session_state["shown"] == ("a", 5)  # set by the user: kept
    assert at.session_state["query"] == {"size": "5"}
    again = AppTest.from_function(_dependent_default_app)
    again.query_params.update(at.session_state["query"])
    assert again.run().session_state["shown"] == ("a", 5)
    at.slider(key="size").set_value(2).run()  # back to a's default: it follows again
    at.selectbox(key="kind").set_value("b").run()
    assert at.session_state["shown"] == ("b", 8)


def test_a_steps_equation_is_reflowed_for_its_narrow_column():
    from core.ui import stack_parts

    long = (r"\nabla_{\mathbf x}\ln\big(1-D(\mathbf x)\big)\to 0\ \text{ as } D(\mathbf x)\to 0\qquad\text{vs}\qquad "
            r"\min_G\ -\mathbb E_{\mathbf z}\big[\ln D(G(\mathbf z))\big]")
    assert stack_parts(long).startswith(r"\begin{gathered}") and stack_parts(long).count(r"\\") == 2
    chain = r"\theta^*=\arg\max_\theta\sum_{i=1}^{n}\ln p(\mathbf x_i;\theta)=\arg\min_\theta\ -\frac1n\sum_{i=1}^{n}\ln p(\mathbf x_i;\theta)"
    assert r"\begin{aligned}\theta^*&=" in stack_parts(chain) and r"\\ &=\arg\min" in stack_parts(chain)
    assert stack_parts(r"x = y\qquad z = w") == r"x = y\qquad z = w"  # short: one line
    inside = r"\left(a_1+a_2+a_3+a_4+a_5+a_6+a_7+a_8 \qquad b_1+b_2+b_3+b_4+b_5+b_6+b_7+b_8\right)"
    assert stack_parts(inside) == inside  # a part inside \left...\right is not cut
