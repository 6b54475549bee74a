"""Links carry trained models on every page that trains live (core.ui.live states the rule): after *Train
live* the link says ``trained=true`` beside the settings; opened in another session it shows that model at once
(this server's store), and in a fresh process (caches cleared) it trains it again, with a progress box, instead
of showing something else. The Train button says "Retrain" once a model with these settings is shown, and a
changed setting takes ``trained`` out of the link."""
import pytest
import streamlit as st

from tests.pagetest import assert_ok, notices, open_page

# page, a small configuration to train live, another value of one of its settings, the Train button's key
CASES = {
    "vae": ("pages/vae.py", {"model": "train my own", "ldata": "sklearn digits 8x8", "lsteps": 100, "lwidth": 64,
                             "seed": 3}, ("lsteps", 200), "train"),
    "flow": ("pages/flow.py", {"data": "Two moons", "K": 2, "width": 16, "steps": 250, "seed": 5}, ("steps", 500),
             "train"),
    "diffusion": ("pages/diffusion.py", {"data": "Two moons", "tsteps": 250, "seed": 2, "view": "2-D model"},
                  ("tsteps", 500), "train"),
    "gan digits": ("pages/gan.py", {"view": "Conditional GAN", "ms": 500, "seed": 3}, ("ms", 1000), "mtrain"),
}


def _statuses(at) -> list[str]:
    return [e.label for e in at.main if type(e).__name__ == "Status"]


def _label(at, key: str) -> str:
    return at.button(key=key).label


@pytest.mark.parametrize("page", list(CASES))
def test_a_link_to_a_live_trained_model_brings_it_back(page, one_torch_thread):
    path, query, (other_key, other_value), button = CASES[page]
    st.cache_resource.clear()
    a = open_page(path, query)
    assert_ok(a)
    assert _label(a, button) == "Train live" and "trained" not in a.query_params
    a.button(key=button).click().run()
    assert_ok(a)
    assert _statuses(a) and _label(a, button) == "Retrain"  # the label follows the model shown, in the run that trained it
    assert a.query_params.get("trained") == "true" and "trained=true" in a.sidebar.code[0].value
    link = dict(a.query_params)

    b = open_page(path, link)  # another session on this server: the stored model, nothing trained
    assert_ok(b)
    assert not notices(b), notices(b)  # nothing in the link ignored
    assert not _statuses(b) and _label(b, button) == "Retrain" and b.query_params.get("trained") == "true"

    st.cache_resource.clear()  # a fresh process: the link's model is trained again, with a progress box
    c = open_page(path, link)
    assert_ok(c)
    assert any(s.startswith("Restored the link's model. Trained") for s in _statuses(c)), _statuses(c)
    assert _label(c, button) == "Retrain" and c.query_params.get("trained") == "true"
    c.run()  # and only once: the next run shows it
    assert not _statuses(c) and _label(c, button) == "Retrain"

    widget = next(w for kind in ("slider", "selectbox") for w in getattr(c, kind) if w.key == other_key)
    widget.set_value(other_value).run()  # another setting: not trained, and the link no longer says so
    assert_ok(c)
    assert not _statuses(c) and _label(c, button) == "Train live" and "trained" not in c.query_params


def test_the_store_is_bounded_and_keeps_what_is_used():
    from core.ui import ModelStore

    s = ModelStore("t", max_entries=3)
    for k in "abc":
        s.put(k, k.upper())
    assert s.get("a") == "A"  # used: now the most recent
    s.put("d", "D")
    assert [k for k, _ in s.items()] == ["c", "a", "d"] and "b" not in s
    sized = ModelStore("t", max_entries=10, max_bytes=10, sizeof=len)
    sized.put("x", "12345")
    sized.put("y", "123456")  # 11 bytes in all: the oldest goes
    assert [k for k, _ in sized.items()] == ["y"]
    sized.put("z", "1" * 50)  # larger than the bound alone: the newest always stays
    assert [k for k, _ in sized.items()] == ["z"]
