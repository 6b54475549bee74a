"""AppTest: the text-to-image page (views, defaults, extreme and odd values, nonsense link parameters, Stable Diffusion)."""
import pytest

from tests.pagetest import assert_ok, captions, image_captions, link, notices, open_each_view, open_page, open_views, shown, step_headings, views, walk, widget
from tests.pagetest import view_switch as switch

PAGE = "pages/text_to_image.py"

# what each view draws: plotly charts, and images (st.image elements); defaults: 8 images, 25 steps
VIEW_CHARTS = {"Generate": 0, "Text encoder": 1, "Denoising steps": 0, "Guidance scale": 1, "Latent space": 1}
VIEW_IMAGES = {"Generate": 8,           # one per seed
               "Text encoder": 0,       # the token states are a chart
               "Denoising steps": 9,    # x0_hat every 3 of the 25 steps
               "Guidance scale": 1,     # the same seeds at five scales
               "Latent space": 1}       # the final latents
SCALE = "Guidance scale"

pytestmark = pytest.mark.usefixtures("one_torch_thread")








def test_defaults_open_on_the_pictures_and_each_view_draws_only_its_own():
    ats = open_each_view(PAGE, VIEW_CHARTS, VIEW_IMAGES, code=True)
    for _label, at in ats.items():
        assert widget(at, "model").value == "mini" and widget(at, "cfg").value == 4.0 and widget(at, "n").value == 8
        assert "Seed of this view: **0**" in " ".join(c.value for c in at.sidebar.caption)
    at = ats["Generate"]
    assert "seed 0" in image_captions(at) and "seed 7" in image_captions(at)  # a seed beside every image
    assert image_captions(at).count("read: ") == 8  # and what the shapes reader sees in it
    assert "Measured on this model" in captions(at) and "paraphrases in words no caption uses" in captions(at)
    labels = [b.label for b in at.get("download_button")]  # the images, their settings, the view as a script
    assert {"Download the images (PNG)", "Download their settings (JSON)", "Download the script"} == set(labels)
    assert "Fidelity" not in captions(at)  # the trade-off waits for its view
    assert [b.label for b in ats[SCALE].get("download_button")] == ["Download the script"]
    assert "step 24, t=" in image_captions(ats["Denoising steps"])
    assert "Fidelity" in captions(ats[SCALE]) and "s = 0, 1, 2, 4, 7" in captions(ats[SCALE])
    table = " ".join(m.value for m in ats[SCALE].markdown).replace("\\", "")  # the reader's numbers per scale
    assert all(col in table for col in ("fidelity (%)", "shape right (%)", "variety (px)")) and "s = 7" in table
    assert "6x fewer" in captions(ats["Latent space"])  # latent (8 x 8 x 8) vs image (3 x 32 x 32)
    assert "token states c" in captions(ats["Text encoder"]).lower()


@pytest.mark.parametrize("query", [
    {"cfg": 20, "steps": 1, "n": 1, "sched": "Euler ancestral", "seed": 2147483647},
    {"cfg": 0, "steps": 2, "n": 16, "sched": "DPM-Solver++", "neg": "a red circle"},
    {"cfg": 7.5, "steps": 3, "n": 2, "sched": "PNDM", "prompt": "a green triangle in the center"},
])
def test_extreme_values_in_the_link_are_shown_in_every_view(query):
    ats = open_views(PAGE, query)
    assert list(ats) == list(VIEW_CHARTS)
    for label, at in ats.items():
        assert_ok(at, min_charts=VIEW_CHARTS[label])
        assert not notices(at), (label, notices(at))
        for key, value in query.items():
            got = at.text_input(key=key).value if key in ("prompt", "neg") else shown(widget(at, key))
            assert (float(got) == float(value)) if isinstance(value, (int, float)) else got == value, (label, key, got, value)
        assert all(f"{k}=" in link(at) for k in query), (label, link(at))  # the link carries the settings
    assert len(ats["Generate"].get("image")) == query["n"]


def test_nonsense_link_parameters_fall_back_with_a_notice():
    ats = open_views(PAGE, {"model": "dalle", "cfg": "-3", "steps": "many", "sched": "Heun-ish", "n": "99",
                            "seed": "x", "zz": "1"})
    for label, at in ats.items():
        assert_ok(at, min_charts=VIEW_CHARTS[label])
        text = notices(at)
        for piece in ("model=dalle", "cfg=-3", "steps=many", "sched=Heun-ish", "n=99", "seed=x", "`zz`"):
            assert piece in text, (label, piece, text)
        assert widget(at, "steps").value == 25 and widget(at, "model").value == "mini"
    at = open_page(PAGE, {"view": "Nowhere", "steps": 2, "n": 2})
    assert_ok(at)
    assert "view=Nowhere" in notices(at) and switch(at).value == "Generate" and len(at.get("image")) == 2


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


def test_a_new_word_is_shown_with_the_caption_words_the_encoder_puts_it_near():
    at = open_page(PAGE, {"prompt": "a large red quadrilateral in the center", "steps": 2, "n": 2})
    assert not at.exception and not at.error
    said = " ".join(x.value for x in at.warning)
    # the frozen encoder's own similarity: 'quadrilateral' lands nearer the caption word 'triangle' than 'square'
    assert "*quadrilateral* → *triangle* 0.54, *square* 0.50" in said, said


def test_the_encoder_view_tables_where_each_new_word_lands():
    at = open_page(PAGE, {"view": "Text encoder", "prompt": "a giant ruby orb <b>in</b> the center"})
    assert_ok(at, min_charts=1)
    rows = at.dataframe[0].value
    assert list(rows["word"]) == ["giant", "ruby", "orb", "b"]  # the markup is words to the encoder, shown as typed
    assert rows.iloc[0]["1st nearest"].startswith("large (large)")   # a size the encoder carries
    assert rows.iloc[1]["1st nearest"].startswith("emerald (green)")  # a colour it misplaces: ruby lands by green
    plain = open_page(PAGE, {"view": "Text encoder", "prompt": "a small red circle in the top left"})
    assert_ok(plain, min_charts=1)
    assert len(plain.dataframe) == 0  # every word is a caption word: no table


def test_the_measured_note_names_the_words_the_encoder_misplaces():
    from core.ui import text_to_image as app

    note = app.measured_note()
    assert "*quadrilateral* nearer *triangle* than any square word" in note, note
    assert "--parts encoder" in note


def test_a_prompt_naming_no_shape_measures_variety_only():
    at = open_page(PAGE, {"view": SCALE, "prompt": "a zebra at dusk", "steps": 1, "n": 1})
    assert_ok(at, min_charts=1)
    assert "names no shape the judge knows" in captions(at) and not at.warning


def test_missing_stable_diffusion_stays_on_mini(tmp_path):
    at = open_page(PAGE, {"model": "Stable Diffusion (local folder or hub id)", "sd": str(tmp_path / "none"),
                          "steps": 2, "n": 2})
    assert not at.exception and not at.error
    said = " ".join(w.value for w in at.warning)
    assert "no usable Stable Diffusion weights" in said and "GenLab mini" in said  # in plain words
    assert "GENLAB_" not in said and "Error" not in said  # the loader's message is for the operator
    operator = next(e for e in at.expander if e.label == "For the server's operator")
    assert "GENLAB_SD_DIRS" in " ".join(m.value for m in operator.markdown)
    assert "seed 0" in image_captions(at)  # the mini model drew instead


def test_tiny_stable_diffusion_runs_in_every_view(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_SD_DIRS", str(tmp_path))
    from tests.test_text_to_image import _tiny_stable_diffusion

    path = _tiny_stable_diffusion(tmp_path)
    ats = open_views(PAGE, {"model": "Stable Diffusion (local folder or hub id)", "sd": str(path), "steps": 2, "n": 2,
                            "prompt": "a lower tower"})
    assert list(ats) == list(VIEW_CHARTS)
    for label, at in ats.items():
        assert_ok(at, min_charts=1 if label in ("Text encoder", "Latent space") else 0)  # token states; parts
        assert not at.warning, (label, [w.value for w in at.warning])
    assert "seed 1" in image_captions(ats["Generate"])
    assert "only knows the shapes world" in " ".join(i.value for i in ats[SCALE].info)
    assert len(ats[SCALE].get("image")) == 1 and not ats[SCALE].get("plotly_chart")  # images at 5 scales, no curve


def test_new_seed_button_changes_the_seed():
    at = open_page(PAGE, {"steps": 2, "n": 1})
    at.button(key="new_seed").click().run()
    assert not at.exception
    assert widget(at, "seed").value != 0


def test_switching_views_in_a_session():
    """The switch redraws another view with the same controls; the denoising view reuses the pictures' run."""
    at = open_page(PAGE, {"steps": 2, "n": 2, "prompt": "a small blue square"})
    assert views(at) == list(VIEW_CHARTS)
    at.slider(key="cfg").set_value(1.0).run()
    switch(at).set_value("Denoising steps").run()
    assert_ok(at)
    assert "step 1, t=" in image_captions(at) and len(at.get("image")) == 2  # 2 steps: a preview after each
    assert "cfg=1" in link(at) and "view=Denoising+steps" in link(at)
    switch(at).set_value(SCALE).run()
    assert_ok(at, min_charts=1)
    assert widget(at, "cfg").value == 1.0 and at.text_input(key="prompt").value == "a small blue square"
    switch(at).set_value("Generate").run()
    assert_ok(at)
    assert "seed 1" in image_captions(at) and "view=" not in link(at)


def test_walkthrough_steps_through_the_lecture():
    at = open_page(PAGE, {"walkthrough": "true", "steps": 2, "n": 2})
    assert not at.exception and not at.error
    assert not views(at)  # no view switch in the walkthrough: one step's section at a time
    assert step_headings(at) == ["#### Step 1. Text-to-image as translation"]
    seen, drew = walk(at, 7, lambda at: bool(at.get("plotly_chart") or at.get("image")), no_errors=True)
    assert all(drew), seen
    assert len(set(seen)) == 6 and seen[-1].startswith("#### Step 6. Diversity against fidelity")
    assert len(at.get("plotly_chart")) == 1 and "Fidelity" in captions(at)


def test_a_lesson_link_opens_its_step_with_the_code_hidden():
    at = open_page(PAGE, {"walkthrough": "true", "step": 3, "hide": "code", "steps": 2, "n": 2})
    assert_ok(at)
    assert not notices(at), notices(at)
    assert [m.value for m in at.markdown if m.value.startswith("#### Step")] == ["#### Step 3. Cross-attention conditioning"]
    assert "step 1, t=" in image_captions(at)  # the denoising previews, without the view switch
