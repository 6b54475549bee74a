"""'Reproduce this view in Python': every page's script runs and gives what the page shows."""
import numpy as np

from core import bayes, flow, gan, snippets, vae
from tests.pagetest import assert_ok, open_page


def _run(code: str) -> dict:
    env: dict = {}
    exec(compile(code, "<snippet>", "exec"), env)  # noqa: S102 - our own generated code, the point of the test
    return env


def test_bayes_snippet_reproduces_the_page_scores():
    cfg = bayes.BayesConfig(dataset="moons", n_per_class=80, seed=3)
    env = _run(snippets.bayes(cfg))
    X, y, _ = bayes.make_dataset(cfg)
    assert env["res"].scores == bayes.fit_pair(X, y, test_size=cfg.test_size, seed=cfg.seed).scores


def test_flow_snippets_shipped_live_and_own_points(one_torch_thread):
    env = _run(snippets.flow(flow.FlowConfig(), "moons", "flow_moons", 50, 1))
    assert env["samples"].shape == (50, 2)
    cfg = flow.FlowConfig(n_layers=2, hidden=16, steps=20, eval_every=10)
    pts = np.random.default_rng(0).normal(size=(60, 2)).round(3)
    a = _run(snippets.flow(cfg, "mine", None, 10, 0, points=pts))
    b = _run(snippets.flow(cfg, "mine", None, 10, 0, points=pts))
    assert np.array_equal(a["samples"], b["samples"])  # same script, same model, same samples


def test_vae_gan_diffusion_snippets(one_torch_thread):
    env = _run(snippets.vae(None, "vae_mnist_z2_beta1", 2))
    assert env["samples"].shape[0] == 16 and env["grid"].ndim == 2
    env = _run(snippets.gan(gan.preset("converges", steps=30), 4))
    assert env["samples"].shape == (1000, 2) and env["model"].step_ == 30
    env = _run(snippets.diffusion("diffusion_mnist16_pixel", 2, "ddim", 5, 0))
    assert env["images"].shape == (2, 16, 16)
    assert vae  # imported for the configs' repr names


def test_pages_offer_their_script(one_torch_thread):
    closed = open_page("pages/bayes.py", {"seed": 5})
    assert_ok(closed)  # folded away, the code expanders hold nothing: no syntax highlighter on a first view
    assert {"Show the code", "Reproduce this view in Python"} <= {e.label for e in closed.expander}
    assert not closed.main.code and not closed.get("download_button")  # (the sidebar link is code too)
    at = open_page("pages/bayes.py", {"seed": 5}, code=True)
    assert_ok(at)
    assert any("def make_dataset" in c.value for c in at.code)
    code = [c.value for c in at.code if "bayes.fit_pair" in c.value]
    assert code and "seed=5" in code[0]
    assert any(b.label == "Download the script" for b in at.get("download_button"))


def test_guided_snippet_runs(one_torch_thread):
    env = _run(snippets.guided(7, "cfg", 3.0, "ddim", 5, 0))
    assert env["out"].images.shape == (16, 16, 16)


def test_text_to_image_and_compare_snippets(one_torch_thread):
    from core import compare

    env = _run(snippets.text_to_image("genlab-mini", "a red circle", "", 4.0, 3, 2, 0, "DDIM"))
    assert env["images"].shape[0] == 2
    code = snippets.compare(compare.CompareConfig(data="moons", seed=3), (5, 5, 5, 5))
    assert "steps=(5, 5, 5, 5)" in code and "seed=3" in code
    compile(code, "<snippet>", "exec")  # runs a full comparison: compiled here, run by the compare tests' config
