"""No leakage between sessions: each AppTest is its own browser session, run in one process
(so they share Streamlit's caches exactly as two students on one server do).

- Points a user adds (canvas clicks and CSV uploads land in ``st.session_state["_<page>_points"]``,
  see ``ui.points_editor``) stay in that session, on the GAN and the flow pages.
- A model trained live on a user's points is found by the other session only if it has the very
  same points (the caches are keyed by the points' content), never otherwise.
- The GAN a session trains is its own: the shipped checkpoint the page keeps in ``st.cache_resource``
  (tensors, Adam moments, RNG state) is not changed by it, so a later session opens bit-identical
  weights and, trained the same number of iterations, reaches bit-identical weights again.
"""
import hashlib

import numpy as np

from core import checkpoints
from tests.pagetest import assert_ok, captions, open_page

GAN, FLOW = "pages/gan.py", "pages/flow.py"
MINE = "My points (click or CSV)"


def _points(seed: int, n: int = 40) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)).round(3).tolist()


def _canvas_points(at) -> int:
    """How many of the user's points the click canvas draws (its second trace: 'your points (n)')."""
    spec = next(c.proto.spec for c in at.get("plotly_chart") if "your points (" in c.proto.spec)
    return int(spec.split("your points (", 1)[1].split(")", 1)[0])


def _weights_hash(model) -> str:
    h = hashlib.sha256()
    for net in (model.G, model.D):
        for k, v in sorted(net.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _file_weights_hash(name: str) -> str:
    tensors, _ = checkpoints.load(checkpoints.shipped(name))
    h = hashlib.sha256()
    for prefix in ("G.", "D."):
        for k in sorted(k for k in tensors if k.startswith(prefix)):
            h.update(k[2:].encode())
            h.update(tensors[k].contiguous().numpy().tobytes())
    return h.hexdigest()


def _model(at):
    return at.session_state["_gan_model"]["model"]


def test_user_points_stay_in_their_session(one_torch_thread):
    for page, key in ((GAN, "_gan_points"), (FLOW, "_flow_points")):
        a = open_page(page, {"data": MINE})
        b = open_page(page, {"data": MINE})
        a.session_state[key] = _points(1)
        a.run()
        assert not a.exception, [e.value for e in a.exception]
        assert _canvas_points(a) == 40
        b.run()  # B reruns after A added points: still nothing of A's
        assert not b.exception
        assert _canvas_points(b) == 0 and b.session_state[key] == []
        assert any("you have 0" in i.value for i in b.info), page
        assert b.button(key="undo").disabled and not a.button(key="undo").disabled
        # B adds its own points; A's are untouched
        b.session_state[key] = _points(2, 12)
        b.run()
        assert _canvas_points(b) == 12 and _canvas_points(a) == 40 and len(a.session_state[key]) == 40


def test_an_uploaded_file_stays_in_its_session(one_torch_thread):
    a = open_page(GAN, {"data": MINE})
    b = open_page(GAN, {"data": MINE})
    csv = b"x,y\n" + b"".join(f"{i / 10},{i % 4}\n".encode() for i in range(15))
    a.file_uploader(key="csv").set_value(("mine.csv", csv, "text/csv")).run()
    assert not a.exception and not a.error, [e.value for e in a.error]
    assert _canvas_points(a) == 15
    b.run()
    assert not b.exception and _canvas_points(b) == 0 and b.session_state["_gan_points"] == []


def test_flow_trained_on_my_points_is_not_shown_to_another(one_torch_thread):
    small = {"data": MINE, "K": 2, "width": 16, "steps": 250}
    a = open_page(FLOW, small)
    a.session_state["_flow_points"] = _points(3)
    a.run()
    assert any("No flow for these points yet" in i.value for i in a.info)
    a.button(key="train").click().run()
    assert_ok(a, min_charts=3)
    assert "Trained live on this server" in captions(a)

    b = open_page(FLOW, small)  # same settings, different points: no model yet
    b.session_state["_flow_points"] = _points(4)
    b.run()
    assert not b.exception
    assert "Trained live on this server" not in captions(b)
    assert any("No flow for these points yet" in i.value for i in b.info)
    assert not any("your points (40)" in c.proto.spec and "samples" in c.proto.spec for c in b.get("plotly_chart"))


def test_gan_training_is_per_session_and_never_touches_the_cached_checkpoint(one_torch_thread):
    shipped = _file_weights_hash("gan_ring8")
    a = open_page(GAN, {"n": 100})
    assert_ok(a)
    assert "Opened trained: shipped checkpoint `gan_ring8`" in captions(a)
    assert _weights_hash(_model(a)) == shipped
    step0 = _model(a).step_
    a.button(key="train").click().run()
    assert not a.exception, [e.value for e in a.exception]
    after_a = _weights_hash(_model(a))
    assert _model(a).step_ == step0 + 100 and after_a != shipped

    b = open_page(GAN, {"n": 100})  # a new session after A trained: the checkpoint as shipped
    assert_ok(b)
    assert _model(b) is not _model(a)
    assert _model(b).step_ == step0 and _weights_hash(_model(b)) == shipped
    b.button(key="train").click().run()  # the same 100 iterations from the same (unchanged) state
    assert not b.exception
    assert _weights_hash(_model(b)) == after_a, "the cached checkpoint state (weights, Adam, RNG) was changed by A"

    a.button(key="reset").click().run()  # A's reset is A's alone
    assert _model(a).step_ == 0 and _model(b).step_ == step0 + 100


def test_gan_on_my_points_is_not_another_sessions_model(one_torch_thread):
    a = open_page(GAN, {"data": MINE, "n": 100})
    a.session_state["_gan_points"] = _points(5)
    a.run()
    a.button(key="train").click().run()
    assert not a.exception and _model(a).step_ == 100

    b = open_page(GAN, {"data": MINE, "n": 100})
    b.session_state["_gan_points"] = _points(6)
    b.run()
    assert not b.exception
    assert _model(b) is not _model(a) and _model(b).step_ == 0
    assert "Untrained" in captions(b)
    # even with the very same points, B's model is B's own (untrained), not A's trained one
    c = open_page(GAN, {"data": MINE, "n": 100})
    c.session_state["_gan_points"] = _points(5)
    c.run()
    assert _model(c).step_ == 0 and _weights_hash(_model(c)) != _weights_hash(_model(a))


def test_identical_live_trainings_share_one_run():
    """Two sessions asking at once for the same model: one trains, the other waits and uses its result;
    a different key trains on its own; a failed run lets the waiting session train itself."""
    import threading
    import time

    from core import ui

    store, log = {}, []

    def session(name, key, fail=False, delay=0.0):
        time.sleep(delay)
        with ui.one_run_per_key(key, lambda: key in store) as mine:
            log.append((name, "trains" if mine else "waited"))
            if mine:
                time.sleep(0.4)
                if not fail:
                    store[key] = name

    threads = [threading.Thread(target=session, args=("a", "k1")),
               threading.Thread(target=session, args=("b", "k1", False, 0.1)),
               threading.Thread(target=session, args=("c", "k2", False, 0.1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(log) == [("a", "trains"), ("b", "waited"), ("c", "trains")]
    assert store == {"k1": "a", "k2": "c"}
    log.clear()
    threads = [threading.Thread(target=session, args=("d", "k3", True)),
               threading.Thread(target=session, args=("e", "k3", False, 0.1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert log == [("d", "trains"), ("e", "trains")] and store["k3"] == "e"


def _statuses(at) -> list[str]:
    """The labels of the page's progress boxes (a training or a restore ran in this run)."""
    return [e.label for e in at.main if type(e).__name__ == "Status"]


def test_a_gan_link_names_the_trained_gan_and_brings_it_back(one_torch_thread):
    """Links carry trained models (core.ui.live): after training, the link says the GAN's training path
    (``it``). Opened in a new session it shows that GAN at once from the server's store, bit-identical; in a
    fresh process (caches cleared) it is trained again, with a progress box, to the very same weights. The
    path includes single-player steps; settings with a shipped checkpoint start from it."""
    import streamlit as st

    cases = [({"n": 100, "lrd": "0.003", "k": "3"}, "step_g", 3110, "3100-g10"),  # mode collapse: shipped at 3000
             ({"n": 100, "seed": 4}, "step_d", 110, "100-d10")]                  # no shipped model: from untrained
    made = []
    for query, extra, step, it in cases:
        a = open_page(GAN, query)
        a.button(key="train").click().run()
        a.button(key=extra).click().run()
        assert_ok(a)
        assert _model(a).step_ == step and a.query_params.get("it") == it, a.query_params
        assert f"it={it}" in a.sidebar.code[0].value
        assert "Untrained" not in captions(a) and f"At iteration **{step:,}**" in captions(a)
        made.append((dict(a.query_params), _weights_hash(_model(a)), step))

        b = open_page(GAN, dict(a.query_params))  # another session, same server: from the store, no training
        assert_ok(b)
        assert _model(b) is not _model(a) and _model(b).step_ == step
        assert _weights_hash(_model(b)) == made[-1][1] and not _statuses(b)
        assert "this server already held that GAN" in captions(b)
        b.button(key="train").click().run()  # B's GAN is B's own: A's is untouched
        assert _model(b).step_ == step + 100 and _model(a).step_ == step

    st.cache_resource.clear()  # a fresh process: nothing trained here yet
    for query, weights, step in made:
        c = open_page(GAN, query)
        assert_ok(c)
        assert _model(c).step_ == step and _weights_hash(_model(c)) == weights
        assert any(s.startswith("Restored: iteration") for s in _statuses(c)), _statuses(c)
        assert "Restored from the link" in captions(c) and "Untrained" not in captions(c)
        assert c.query_params.get("it") == query["it"]


def test_a_changed_setting_is_not_trained_to_the_old_links_iterations(one_torch_thread):
    """The page's own ``it`` describes the GAN it showed: another setting opens that setting's own GAN (shipped or
    untrained), it is not trained up to the old number."""
    a = open_page(GAN, {"n": 100, "seed": 5})
    a.button(key="train").click().run()
    assert a.query_params.get("it") == "100"
    a.number_input(key="seed").set_value(6).run()
    assert_ok(a)
    assert _model(a).step_ == 0 and not _statuses(a) and "it" not in a.query_params
    assert "Untrained" in captions(a)
