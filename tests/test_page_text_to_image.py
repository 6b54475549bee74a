"""AppTest: the text-to-image page (defaults, extreme and odd values, nonsense link parameters, Stable Diffusion)."""
import pytest

from tests.pagetest import assert_ok, captions, notices, open_page, shown, widget

PAGE = "pages/text_to_image.py"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def image_captions(at) -> str:
    return " ".join(img.caption for e in at.get("image") for img in e.proto.imgs)


def test_defaults_open_with_the_shipped_mini_model():
    at = open_page(PAGE)
    assert_ok(at, min_charts=3)  # token states, parts, trade-off curve
    assert not at.warning, [w.value for w in at.warning]
    assert widget(at, "model").value == "mini" and widget(at, "cfg").value == 4.0 and widget(at, "n").value == 8
    assert len(at.get("image")) >= 8 + 8 + 1 + 1  # the images, the preview columns, the scales grid, the latents
    assert "seed 0" in image_captions(at) and "seed 7" in image_captions(at)  # a seed beside every image
    text = captions(at)
    assert "Fidelity" in text and "12x fewer" in text  # the trade-off curve, latent vs image size
    labels = [b.label for b in at.get("download_button")]  # the images, their settings, the view as a script
    assert {"Download the images (PNG)", "Download their settings (JSON)", "Download the script"} == set(labels)
    assert "Seed of this view: **0**" in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("query", [
    {"cfg": 20, "steps": 1, "n": 1, "sched": "Euler ancestral", "seed": 2147483647},
    {"cfg": 0, "steps": 2, "n": 16, "sched": "DPM-Solver++", "neg": "a red circle"},
    {"cfg": 7.5, "steps": 3, "n": 2, "sched": "PNDM", "prompt": "a green triangle in the center"},
])
def test_extreme_values_in_the_link_are_shown(query):
    at = open_page(PAGE, query)
    assert_ok(at, min_charts=3)
    assert not notices(at), notices(at)
    for key, value in query.items():
        got = at.text_input(key=key).value if key in ("prompt", "neg") else shown(widget(at, key))
        assert (float(got) == float(value)) if isinstance(value, (int, float)) else got == value, (key, got, value)
    assert all(f"{k}=" in at.sidebar.code[0].value for k in query)  # the link carries the view


def test_nonsense_link_parameters_fall_back_with_a_notice():
    at = open_page(PAGE, {"model": "dalle", "cfg": "-3", "steps": "many", "sched": "Heun-ish", "n": "99",
                          "seed": "x", "zz": "1"})
    assert_ok(at, min_charts=3)
    text = notices(at)
    for piece in ("model=dalle", "cfg=-3", "steps=many", "sched=Heun-ish", "n=99", "seed=x", "`zz`"):
        assert piece in text, (piece, text)
    assert widget(at, "steps").value == 25 and widget(at, "model").value == "mini"


@pytest.mark.parametrize("prompt,expect", [
    ("", "unconditional"),
    ("circle " * 60, "truncated"),
    ("a zebra riding a 🚲 in 東京", "zebra"),
])
def test_odd_prompts_are_explained(prompt, expect):
    at = open_page(PAGE, {"prompt": prompt, "steps": 2, "n": 2})
    assert not at.exception and not at.error
    said = " ".join(x.value for x in list(at.warning) + list(at.info))
    assert expect in said, said


def test_missing_stable_diffusion_stays_on_mini(tmp_path):
    at = open_page(PAGE, {"model": "Stable Diffusion (local folder or hub id)", "sd": str(tmp_path / "none"),
                          "steps": 2, "n": 2})
    assert not at.exception and not at.error
    assert any("not available here" in w.value for w in at.warning)
    assert "seed 0" in image_captions(at)  # the mini model drew instead


def test_tiny_stable_diffusion_runs_on_the_page(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_SD_DIRS", str(tmp_path))
    from tests.test_text_to_image import _tiny_stable_diffusion

    path = _tiny_stable_diffusion(tmp_path)
    at = open_page(PAGE, {"model": "Stable Diffusion (local folder or hub id)", "sd": str(path), "steps": 2, "n": 2,
                          "prompt": "a lower tower"})
    assert_ok(at, min_charts=2)
    assert not at.warning, [w.value for w in at.warning]
    assert "only knows the shapes world" in " ".join(i.value for i in at.info)
    assert "seed 1" in image_captions(at)


def test_new_seed_button_changes_the_seed():
    at = open_page(PAGE, {"steps": 2, "n": 1})
    at.button(key="new_seed").click().run()
    assert not at.exception
    assert widget(at, "seed").value != 0


def test_walkthrough_steps_through_the_lecture():
    at = open_page(PAGE, {"walkthrough": "true", "steps": 2, "n": 2})
    assert not at.exception and not at.error
    headings = lambda: [m.value for m in at.markdown if m.value.startswith("#### Step")]  # noqa: E731
    assert headings() == ["#### Step 1. Text-to-image as translation"]
    seen = []
    for _ in range(7):
        seen.append(headings()[0])
        assert at.get("plotly_chart") or at.get("image"), seen[-1]
        [b for b in at.button if b.label == "Next"][0].click().run()
        assert not at.exception and not at.error
    assert len(set(seen)) == 6 and seen[-1].startswith("#### Step 6. Diversity against fidelity")
