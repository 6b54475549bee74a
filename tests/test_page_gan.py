"""AppTest: the GAN page (its views, defaults, extreme values, nonsense links, the train/step/reset/play
controls in every view, presets, the timeline, the conditional GANs and the walkthrough)."""
import pytest

from tests.pagetest import assert_ok, captions, notices, open_page, open_views, shown, step_headings, views, walk, widget, widget_in

GAN = "pages/gan.py"
GAME, CURVES, CGAN = "The game", "Training curves", "Conditional GAN"
# charts each view draws: overview + plane | curves + mode bars | ring cGAN + digit grid
VIEW_CHARTS = {GAME: 2, CURVES: 2, CGAN: 2}
CHART_KEYS = {GAME: ["overview", "plane"], CURVES: ["curves", "modebars"], CGAN: ["cgan_plane", "digits"]}


def _metrics(at):
    return {m.label: m.value for m in at.metric}


def _iteration(at):
    """The iteration the overview caption reports (view *The game*)."""
    text = next(c.value for c in at.caption if c.value.startswith("Iteration **"))
    return int(text.split("**")[1].replace(",", ""))


def _step(at):
    """The session's model's iteration, whichever view is shown."""
    return at.session_state["_gan_model"]["model"].step_


def _show(at, label):
    at.button_group(key="view").set_value(label).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _chart_ids(at):
    return [c.proto.id for c in at.get("plotly_chart")]


def _assert_view(at, label, charts=None):
    """No exception or error, and exactly the charts of view ``label`` (by their keys)."""
    assert_ok(at)
    keys = CHART_KEYS[label] if charts is None else charts
    ids = _chart_ids(at)
    assert len(ids) == len(keys), (label, ids)
    for k in keys:
        assert any(k in i for i in ids), (label, k, ids)


def test_gan_views_open_trained_each_with_its_own_figures():
    ats = open_views(GAN)
    assert list(ats) == [GAME, CURVES, CGAN]
    assert views(ats[GAME]) == [GAME, CURVES, CGAN]
    for label, at in ats.items():
        _assert_view(at, label)
        assert len(at.get("plotly_chart")) == VIEW_CHARTS[label]
        assert at.selectbox(key="data").value == "ring8"
        assert "Opened trained: shipped checkpoint `gan_ring8`, made by `python -m core train gan" in captions(at)
        assert at.button(key="train") and at.toggle(key="play").value is False  # the controls are in every view
        link = at.sidebar.code[0].value
        assert ("view=" in link) == (label != GAME), link
        assert "**no likelihood**" in " ".join(x.value for x in at.markdown)
    game = ats[GAME]
    assert _iteration(game) >= 1000
    assert [t.key for t in game.toggle if t.key in ("heat", "real", "fake", "man", "arr")] == [
        "heat", "real", "fake", "man", "arr"]
    m = _metrics(ats[CURVES])
    assert m["modes captured"] == "8 / 8"
    assert 0.35 < float(m["mean D(fake)"]) < 0.65 and 0.35 < float(m["mean D(real)"]) < 0.65
    assert float(m["JS of grid histograms"]) < 0.3
    assert any("Mode collapse" in x.value for x in ats[CURVES].markdown)  # the presets' reasons
    assert not any(t.key == "heat" for t in ats[CURVES].toggle)  # another view's controls are not drawn
    assert float(_metrics(ats[CGAN])["samples on mode 0"].rstrip("%")) > 80


@pytest.mark.parametrize("query", [
    {"lrd": "0", "lrg": "0", "n": 100},
    {"data": "5x5 grid of Gaussians", "k": 10, "gw": 8, "dw": 256, "gd": 1, "dd": 4, "nz": 16, "batch": 512,
     "noise": "uniform", "act": "relu", "seed": 2147483647},
    {"data": "Two spirals", "loss": "WGAN-GP (critic + gradient penalty)", "b1": "0.9", "b2": "0.9", "nz": 1, "n": 100},
    {"data": "Swiss roll", "loss": "minimax (lecture): G min ln(1 - D(G(z)))", "lrd": "0.1", "gw": 256, "gd": 4,
     "n": 100},
    {"data": "PacGAN's 5x5 grid (spacing 2)", "pack": 4, "mbstd": "groups of 8", "n": 100},
    {"data": "PacGAN's ring (std 0.01)", "pack": 3, "mbstd": "groups of 2", "loss": "WGAN-GP (critic + gradient penalty)",
     "n": 100},
])
def test_gan_extremes_and_link_restores_view(query):
    at = open_page(GAN, query)
    assert_ok(at, min_charts=VIEW_CHARTS[GAME])
    assert not notices(at), notices(at)
    for key, value in query.items():
        w = widget(at, key)
        ok = str(shown(w)) == str(value) or (isinstance(w.value, (int, float)) and not isinstance(w.value, bool)
                                             and float(value) == float(w.value))
        assert ok, (key, shown(w), value)
    assert "Untrained" in captions(at)  # settings other than a shipped model's start untrained
    modes = query.get("data", "Ring").startswith(("Ring", "5x5", "PacGAN"))  # mode bars: the sets with known modes
    for label in (CURVES, CGAN):  # every view draws with these settings, the link keeps them
        _show(at, label)
        _assert_view(at, label, None if label != CURVES or modes else ["curves"])
        assert not notices(at), (label, notices(at))
        link = at.sidebar.code[0].value
        assert all(f"{k}=" in link for k in query), (label, link)
    if "n" not in query:  # the largest networks are only drawn here (training them takes long on 2 cores)
        return
    at.button(key="train").click().run()  # Train works from any view (here the cGAN's)
    assert_ok(at, min_charts=VIEW_CHARTS[CGAN])
    assert _step(at) == int(query["n"])
    _show(at, CURVES)
    if "WGAN" in query.get("loss", ""):
        assert "Wasserstein estimate" in _metrics(at)


def test_gan_zero_learning_rate_trains_without_moving():
    at = open_page(GAN, {"lrd": "0", "lrg": "0", "n": 100, "view": CURVES})
    js = _metrics(at)["JS of grid histograms"]
    at.button(key="train").click().run()
    _assert_view(at, CURVES)
    assert _step(at) == 100
    assert _metrics(at)["JS of grid histograms"] == js  # nothing learned, nothing moved


def test_gan_huge_learning_rate_diverges_with_a_clear_message():
    at = open_page(GAN, {"lrd": "10", "lrg": "10", "act": "relu", "n": 100})
    at.button(key="train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "diverged" in errors and "learning rate" in errors, errors
    assert at.button(key="train").disabled
    _show(at, CGAN)  # the message stays in every view
    assert "diverged" in " ".join(e.value for e in at.error)
    at.button(key="reset").click().run()  # reset recovers
    _assert_view(at, CGAN)
    _show(at, GAME)
    _assert_view(at, GAME)
    assert _iteration(at) == 0


def test_gan_nonsense_url_parameters_fall_back_with_a_notice():
    query = {"data": "Nope", "lrd": "fast", "k": "99", "gw": "7", "nz": "-1", "loss": "hinge", "play": "maybe",
             "seed": "abc", "heat": "maybe", "digit": "12", "cn": "5000", "zz": "1", "pack": "9", "mbstd": "3"}
    everywhere = ("data=Nope", "lrd=fast", "k=99", "gw=7", "nz=-1", "loss=hinge", "play=maybe", "seed=abc", "`zz`",
                  "pack=9", "mbstd=3")
    in_view = {GAME: ("heat=maybe",), CURVES: (), CGAN: ("digit=12", "cn=5000")}
    ats = open_views(GAN, query)
    assert list(ats) == [GAME, CURVES, CGAN]
    for label, at in ats.items():
        _assert_view(at, label)
        text = notices(at)
        for key in everywhere + in_view[label]:
            assert key in text, (label, key, text)
        for other in in_view:  # a hidden view's values are checked when it is shown, not before
            if other != label:
                assert not any(f"`{key.split('=')[0]}" in text for key in in_view[other]), (label, other, text)
        assert at.selectbox(key="data").value == "ring8" and widget(at, "k").value == 1
        assert widget(at, "pack").value == 1 and widget(at, "mbstd").value == 0
        assert "Opened trained" in captions(at)
    assert widget(ats[GAME], "heat").value is True
    assert widget(ats[CGAN], "digit").value == 0 and widget(ats[CGAN], "cn").value == 300
    at = open_page(GAN, {"view": "Nowhere"})  # an unknown view: the first, with a notice
    _assert_view(at, GAME)
    assert "view=Nowhere" in notices(at)


@pytest.mark.parametrize("query", [
    {"heat": "false", "real": "false", "fake": "false", "man": "false", "arr": "false", "y": 7, "cn": 1000,
     "digit": 9, "ms": 500, "seed": 99},
    {"man": "false", "y": 1, "cn": 50, "digit": 3, "ms": 20000},
])
def test_gan_view_controls_from_the_link(query):
    ats = open_views(GAN, query)
    links = set()
    for label, at in ats.items():
        assert_ok(at, min_charts=VIEW_CHARTS[label])
        assert not notices(at), (label, notices(at))
        link = at.sidebar.code[0].value
        links.add(frozenset(p for p in link.lstrip("?").split("&") if not p.startswith("view=")))
    assert len(links) == 1, links  # the same settings in the link, whichever view is shown
    for key, value in query.items():
        w = widget_in(ats, key)
        got = str(shown(w)).lower() if isinstance(w.value, bool) else str(shown(w))
        assert got == str(value), (key, got, value)
    spec = next(c.proto.spec for c in ats[GAME].get("plotly_chart") if "(now)" in c.proto.spec)
    assert ("G's manifold" in spec) == (query.get("man") != "false")  # the toggle from the link is applied
    assert ("where G's gradient pushes" in spec) == (query.get("arr") != "false")
    assert any(f"G(z | y={query['digit']})" in c.proto.spec for c in ats[CGAN].get("plotly_chart"))
    assert f"samples on mode {query['y']}" in _metrics(ats[CGAN])


def test_a_hidden_views_setting_survives_in_the_link():
    at = open_page(GAN, {"digit": "7", "heat": "false"})
    _assert_view(at, GAME)
    assert not notices(at), notices(at)
    link = at.sidebar.code[0].value
    assert "digit=7" in link and "heat=false" in link
    _show(at, CURVES)  # neither control is drawn here; the link keeps both
    assert not notices(at), notices(at)
    link = at.sidebar.code[0].value
    assert "digit=7" in link and "heat=false" in link and "view=Training+curves" in link
    at = open_page(GAN, {"digit": "7", "view": CGAN})
    assert at.selectbox(key="digit").value == 7


def test_gan_step_buttons_move_one_player_and_reset_starts_over_in_every_view():
    at = open_page(GAN)
    start = _iteration(at)
    at.button(key="step_d").click().run()
    _assert_view(at, GAME)
    cap = next(c.value for c in at.caption if c.value.startswith("Iteration **"))
    assert _iteration(at) == start + 10 and "D updates" in cap
    _show(at, CURVES)  # the model is the session's: switching views keeps it
    assert _step(at) == start + 10
    at.button(key="step_g").click().run()
    _assert_view(at, CURVES)
    assert _step(at) == start + 20
    _show(at, CGAN)
    at.button(key="reset").click().run()
    _assert_view(at, CGAN)
    assert _step(at) == 0 and "Untrained" in captions(at)
    _show(at, GAME)
    assert _iteration(at) == 0


@pytest.mark.parametrize("label", [GAME, CURVES, CGAN])
def test_gan_play_trains_in_every_view(label):
    at = open_page(GAN, {"play": "true", "view": label})
    _assert_view(at, label)
    first = _step(at)
    at.run()
    assert _step(at) > first  # every run (tick) trains a little more
    if label == GAME:
        assert _iteration(at) == _step(at)  # and the view shows the model as it is now
    if label == CGAN:
        assert any(c.value.startswith("Playing: the GAN trains on") for c in at.caption)


def test_gan_presets_set_the_controls_and_say_why():
    at = open_page(GAN, {"view": CURVES})
    at.button(key="preset_mode_collapse").click().run()
    _assert_view(at, CURVES)
    assert widget(at, "k").value == 3 and widget(at, "lrd").value == 0.003
    assert any("Mode collapse" in i.value for i in at.info)
    assert "k=3" in at.sidebar.code[0].value
    at.button(key="preset_saturating").click().run()
    _assert_view(at, CURVES)
    assert widget(at, "loss").value == "minimax" and widget(at, "k").value == 10
    at.button(key="preset_mode_collapse").click().run()  # its settings have a shipped checkpoint: collapsed at once
    assert "shipped checkpoint `gan_ring8_collapse`" in captions(at) and _step(at) == 3000
    assert int(_metrics(at)["modes captured"].split("/")[0]) < 8
    at.button(key="preset_converges").click().run()
    assert "Opened trained" in captions(at)  # back to the shipped settings
    at.button(key="preset_grid25").click().run()  # brings its data set along, and opens trained too
    _assert_view(at, CURVES)
    assert at.selectbox(key="data").value == "grid25" and widget(at, "gw").value == 128
    assert "shipped checkpoint `gan_grid25`" in captions(at)
    assert _metrics(at)["modes captured"].endswith("/ 25")


def test_gan_timeline_scrubs_back():
    at = open_page(GAN)
    plane = lambda: next(c for c in at.get("plotly_chart") if "Iteration" in c.proto.spec)
    assert "(now)" in plane().proto.spec
    timeline = next(s for s in at.slider if s.key and s.key.startswith("timeline_"))
    timeline.set_value(1).run()
    _assert_view(at, GAME)
    assert "(snapshot)" in plane().proto.spec
    assert any("Showing the snapshot at iteration" in c.value for c in at.caption)


def test_gan_conditional_label_and_digit_change_the_samples():
    at = open_page(GAN, {"view": CGAN})
    spec = lambda k: next(c.proto.spec for c in at.get("plotly_chart") if f"y={k}" in c.proto.spec)
    ring0 = spec(0)
    at.selectbox(key="y").set_value(5).run()
    _assert_view(at, CGAN)
    assert spec(5) != ring0
    on_mode = float(_metrics(at)["samples on mode 5"].rstrip("%"))
    assert on_mode > 80
    at.selectbox(key="digit").set_value(7).run()
    _assert_view(at, CGAN)
    assert any("G(z | y=7)" in c.proto.spec for c in at.get("plotly_chart"))
    assert "y=5" in at.sidebar.code[0].value and "digit=7" in at.sidebar.code[0].value
    assert [d.label for d in at.get("download_button")][:1] == ["Download these digits (PNG)"]


def test_gan_user_points_need_enough_and_then_train():
    at = open_page(GAN, {"data": "My points (click or CSV)"})
    assert not at.exception
    assert any("Add at least" in i.value for i in at.info)
    assert not views(at)  # nothing to show yet: the page stops before the switch
    at.session_state["_gan_points"] = [[float(i % 7), float(i // 7)] for i in range(40)]
    at.run()
    _assert_view(at, GAME, ["canvas", "overview", "plane"])
    at.button(key="train").click().run()
    assert not at.exception and _iteration(at) == 1000
    _show(at, CURVES)
    _assert_view(at, CURVES, ["canvas", "curves"])  # no mode bars: the user's points have no known modes


def test_gan_walkthrough_steps_through_the_lecture():
    at = open_page(GAN, {"walkthrough": "true"})
    assert_ok(at, min_charts=1)
    assert not views(at)  # no view switch in the walkthrough
    assert step_headings(at) == ["#### Step 1. Two networks, one zero-sum game"]
    seen, charts = walk(at, 8, lambda at: len(at.get("plotly_chart")))
    assert len(set(seen)) == 7 and seen[-1].startswith("#### Step 7")
    # overview, overview, plane, curves + bars, curves + bars, presets (the plane and the bars), cGAN
    assert charts == [1, 1, 1, 2, 2, 2, 2, 2]
    assert any("D(x|y)" in x.value or "D(\\mathbf x\\mid y)" in x.value for x in at.latex)


def test_gan_lesson_link_with_a_hidden_views_keys():
    """A lesson link opens a step; the controls of the views without that step wait, unreported."""
    at = open_page(GAN, {"walkthrough": "true", "step": "7", "heat": "false", "digit": "4"})
    assert_ok(at, min_charts=2)
    assert not notices(at), notices(at)
    assert at.selectbox(key="digit").value == 4
    assert "heat=false" in at.sidebar.code[0].value


def _statuses(at):
    return [e.label for e in at.main if type(e).__name__ == "Status"]


def test_gan_lessons_open_on_what_they_describe():
    """The collapse lesson's link carries the preset's settings and iterations: it opens on the shipped collapsed
    GAN at once (no training), its step drawing the plane and the coverage bars; the optimum lesson opens on the
    converged GAN."""
    from core.lessons import LESSONS

    lesson = {les.step: les for les in LESSONS if les.page == "gan"}
    at = open_page(GAN, lesson[6].query())
    assert_ok(at, min_charts=2)
    assert not notices(at) and not _statuses(at), _statuses(at)  # nothing trained on open
    # PacGAN's ring collapsed by a strong D (the collapse_pacgan preset's shipped checkpoint)
    assert "shipped checkpoint `gan_ring8p_collapse`" in captions(at) and _step(at) == 4000
    h = at.session_state["_gan_model"]["model"].metrics
    assert h["test/modes"] < 8, h
    assert [c.proto.id.split("-")[-1] for c in at.get("plotly_chart")] == ["preset_plane", "preset_modebars"]
    at = open_page(GAN, lesson[5].query())
    assert_ok(at)
    assert not _statuses(at) and at.session_state["_gan_model"]["model"].metrics["test/modes"] == 8


def test_gan_status_names_the_gan_shown_after_training_and_play():
    at = open_page(GAN, {"n": 100, "seed": 9, "view": CURVES})
    assert "Untrained" in captions(at)
    at.button(key="train").click().run()
    assert_ok(at)
    assert "Untrained" not in captions(at) and "At iteration **100**" in captions(at)
    assert "it=100" in at.sidebar.code[0].value
    at.toggle(key="play").set_value(True).run()
    at.run()  # a Play tick: the status and the sidebar's link follow the GAN
    assert _step(at) > 100 and f"At iteration **{_step(at):,}**" in captions(at)
    assert f"it={_step(at)}" in at.sidebar.code[0].value
    at.toggle(key="play").set_value(False).run()  # stopped: the address bar names the GAN shown
    assert at.query_params.get("it") == str(_step(at))
    at.button(key="reset").click().run()
    assert "Untrained" in captions(at) and "it" not in at.query_params


def test_play_stops_at_the_servers_cap_and_a_new_stretch_starts_when_switched_off_and_on():
    """Play trains in ticks, each holding a slot; a stretch of playing stops at GENLAB_MAX_TRAIN_SECONDS (here a
    gate with a 0.3 s cap) and says so, and switching Play off and on starts a new stretch."""
    from core import admission

    admission.reset_gate(n=2, seconds=0.3)
    try:
        at = open_page(GAN, {"play": "true", "n": "100", "seed": "3"})
        assert_ok(at)
        at.run()
        assert any("Play stopped at the server's limit" in i.value for i in at.info)
        step = at.session_state["_gan_model"]["model"].step_ if "_gan_model" in at.session_state else None
        at.toggle(key="play").set_value(False).run()
        at.toggle(key="play").set_value(True).run()
        assert_ok(at)
        assert not any("Play stopped" in i.value for i in at.info)
        if step is not None:
            assert at.session_state["_gan_model"]["model"].step_ > step
        assert admission.gate().free() == 2
    finally:
        admission.reset_gate()


def test_gan_remedy_presets_open_trained_and_state_what_they_measured():
    """Each remedy preset brings PacGAN's data and opens on its shipped checkpoint; the presets' list quotes the
    coverage each checkpoint's JSON records."""
    at = open_page(GAN, {"view": CURVES})
    at.button(key="preset_collapse_pacgan").click().run()
    _assert_view(at, CURVES)
    assert at.selectbox(key="data").value == "ring8_pacgan" and widget(at, "k").value == 3
    assert "shipped checkpoint `gan_ring8p_collapse`" in captions(at)
    text = " ".join(x.value for x in at.markdown)
    for ck in ("gan_ring8p_default", "gan_ring8p_pacgan2", "gan_ring8p_pacgan4", "gan_ring8p_mbstd",
               "gan_grid25p_pacgan2", "gan_grid25p_ema"):
        assert f"(`{ck}`, seed 0" in text, ck
    assert "Measured: " in text and "checkpoint missing" not in text
    assert "it is the average that keeps the coverage" in text and "Set the average to *off*" in text
    at.button(key="preset_pacgan2").click().run()
    _assert_view(at, CURVES)
    assert widget(at, "pack").value == 2 and "pack=2" in at.sidebar.code[0].value
    assert widget(at, "ema").value == 0.999  # the remedy samples from G's moving average, and the settings say so
    assert "shipped checkpoint `gan_ring8p_pacgan2`" in captions(at)
    assert any("PacGAN2" in i.value for i in at.info)
    assert _metrics(at)["modes captured"].endswith("/ 8")
    at.button(key="preset_mbstd").click().run()
    assert widget(at, "pack").value == 1 and widget(at, "mbstd").value == 2
    assert "shipped checkpoint `gan_ring8p_mbstd`" in captions(at)
    at.button(key="preset_grid_pacgan2").click().run()
    _assert_view(at, CURVES)
    assert at.selectbox(key="data").value == "grid25_pacgan" and _metrics(at)["modes captured"].endswith("/ 25")
    at.button(key="train").click().run()  # a packed GAN trains on from its checkpoint on the page
    _assert_view(at, CURVES)
    assert _step(at) == gan_preset_steps("grid_pacgan2") + 1000


def gan_preset_steps(name):
    from core import gan

    return gan.preset(name).steps
