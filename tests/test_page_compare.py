"""AppTest: the compare page (opens on the precomputed result, extreme and nonsense links, live training)."""
import numpy as np
import pytest

from tests.pagetest import assert_ok, captions, notices, open_page, shown, widget

PAGE = "pages/compare.py"
CHARTS = 3  # samples, curves, own losses

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_defaults_open_on_the_precomputed_result():
    at = open_page(PAGE)
    assert_ok(at, min_charts=CHARTS)
    assert widget(at, "data").value == "moons" and widget(at, "budget").value == 10
    assert "Precomputed, by `python -m core.compare run --data moons --budget 10" in captions(at)
    table = at.dataframe[0].value
    assert list(table["model"][:4]) == ["GAN", "VAE", "Flow", "Diffusion"]
    assert table["test NLL"][0] == "—" and table["test NLL"][3].startswith("<= ")
    reading = " ".join(m.value for m in at.markdown if m.value.startswith("- "))
    assert "sliced Wasserstein" in reading and "KDE" in reading


@pytest.mark.parametrize("query", [
    {"data": "Ring of 8 Gaussians", "budget": 30, "seed": 2147483647, "kde": "true"},
    {"data": "Checkerboard", "budget": 2},
    {"data": "5x5 grid of Gaussians", "budget": 10},
])
def test_extreme_values_in_the_link_are_shown(query):
    at = open_page(PAGE, query)
    assert_ok(at, min_charts=CHARTS)
    assert not notices(at), notices(at)
    for key, value in query.items():
        assert str(shown(widget(at, key))).lower() == str(value).lower(), (key, shown(widget(at, key)), value)
    if query["budget"] != 10 or "seed" in query:
        assert "until you click **Train again**" in captions(at)  # shows the precomputed one and says so
    link = at.sidebar.code[0].value
    assert all((f"{k}=" in link) == (str(v) != "10" or k != "budget") for k, v in query.items())  # defaults stay out


def test_nonsense_link_parameters_fall_back_with_a_notice():
    at = open_page(PAGE, {"data": "Klein bottle", "budget": "999", "seed": "-1", "kde": "maybe", "zz": "1"})
    assert_ok(at, min_charts=CHARTS)
    text = notices(at)
    for key in ("data=Klein bottle", "budget=999", "seed=-1", "kde=maybe", "`zz`"):
        assert key in text, (key, text)
    assert widget(at, "data").value == "moons" and widget(at, "budget").value == 10


def test_my_points_need_enough_points_then_train_live():
    at = open_page(PAGE, {"data": "My points (click or CSV)", "budget": 2})
    assert_ok(at)
    assert any("at least 20" in i.value for i in at.info)
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal((-1.5, 0), 0.3, (40, 2)), rng.normal((1.5, 0.5), 0.3, (40, 2))])
    at.session_state["_compare_points"] = pts.tolist()
    at.run()
    assert_ok(at)
    assert any("Nothing trained" in i.value for i in at.info)
    at.button(key="train").click().run(timeout=240)
    assert_ok(at, min_charts=CHARTS)
    assert "Trained on this server: 2 s per family" in captions(at)
    table = at.dataframe[0].value
    assert len(table) == 6 and all(float(s) >= 2.0 for s in table["train s"][:4])
    at.run()  # a rerun (any session, same points, budget and seed) finds the shared result without training
    assert_ok(at, min_charts=CHARTS)
    assert "Trained on this server" in captions(at) and not at.status
