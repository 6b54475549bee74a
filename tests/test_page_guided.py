"""AppTest: the guided-diffusion page (defaults, extreme and nonsense link parameters, live measuring, walkthrough)."""
import pytest

from tests.pagetest import assert_ok, captions, notices, open_page, shown, widget

PAGE = "pages/guided.py"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_defaults_open_trained_with_the_shipped_table():
    at = open_page(PAGE)
    assert_ok(at, min_charts=3)               # trade-off, frontier, temperature
    assert len(at.get("image")) >= 10          # grid, scale rows, gradients, CFG panels
    assert not at.warning, [w.value for w in at.warning]
    assert widget(at, "digit").value == 7 and widget(at, "guidance").value == "cfg" and widget(at, "scale").value == 3.0
    text = captions(at)
    assert "shipped table" in text and "The evaluator reads" in text
    assert not any("No table yet" in i.value for i in at.info)


@pytest.mark.parametrize("query", [
    {"digit": 0, "guidance": "Classifier", "scale": 10.0, "sampler": "DDPM", "steps": 10, "seed": 2147483647,
     "tclf": 1000, "tcfg": 1},
    {"digit": 9, "guidance": "None", "scale": 0.0, "steps": 10, "tclf": 1, "tcfg": 1000, "per": 8, "csteps": 10},
])
def test_extreme_values_in_the_link_are_shown(query):
    at = open_page(PAGE, query)
    assert_ok(at, min_charts=1)
    assert not notices(at), notices(at)
    for key, value in query.items():
        assert str(shown(widget(at, key))) == str(value), (key, shown(widget(at, key)), value)
    assert all(f"{k}=" in at.sidebar.code[0].value for k in query)


def test_nonsense_link_parameters_fall_back_with_a_notice():
    at = open_page(PAGE, {"digit": "eleven", "guidance": "magic", "scale": "-3", "steps": "7", "seed": "x",
                          "per": "1000", "zz": "1"})
    assert_ok(at, min_charts=3)
    text = notices(at)
    for piece in ("digit=eleven", "guidance=magic", "scale=-3", "steps=7", "seed=x", "per=1000", "`zz`"):
        assert piece in text, (piece, text)
    assert widget(at, "digit").value == 7 and widget(at, "scale").value == 3.0


def test_other_curve_settings_are_measured_live_on_request():
    at = open_page(PAGE, {"per": 8, "csteps": 10, "steps": 10})
    assert_ok(at, min_charts=1)
    assert any("No table yet" in i.value for i in at.info)
    at.button(key="measure").click().run()
    assert_ok(at, min_charts=3)
    assert "measured just now" in captions(at) and "80 samples" in captions(at)


def test_slider_change_redraws_the_grid():
    at = open_page(PAGE, {"steps": 10})
    first = [i.proto.imgs[0].url for i in at.get("image")[:1]]
    at.slider(key="scale").set_value(0.0).run()
    assert_ok(at, min_charts=3)
    assert "s = 0" in captions(at)
    assert [i.proto.imgs[0].url for i in at.get("image")[:1]] != first
    assert "scale=0" in at.sidebar.code[0].value


def test_walkthrough_steps_through_the_lecture():
    at = open_page(PAGE, {"walkthrough": "true", "steps": 10})
    assert_ok(at)
    headings = lambda: [m.value for m in at.markdown if m.value.startswith("#### Step")]
    assert headings() == ["#### Step 1. Why condition?"]
    seen = []
    for _ in range(6):
        seen.append(headings()[0])
        at.button[1].click().run()  # Next
        assert not at.exception and not at.error
    assert len(set(seen)) == 5 and seen[-1].startswith("#### Step 5. The guidance scale")
    assert at.get("plotly_chart")  # the curve's step draws its figures
