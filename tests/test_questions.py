"""The class questions (core/questions.py): every question sits on a real walkthrough step, its right answer parses
and scores as right, nonsense is refused, the tally counts, and every figure is valid, deterministic and consistent
with its question. No Streamlit: the pages' steps are counted in their lecture text (core/steps/<page>.py)."""
import importlib
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from core import app_pages
from core import questions as qs
from core.lessons import Step

ROOT = Path(__file__).resolve().parent.parent
PAGE_FILES = {p.url_path: ROOT / p.path for p in app_pages.PAGES}


def _step_count(page: str) -> int:
    """The number of walkthrough steps of a page: its lecture text's ``STEPS`` (core/steps/<page>.py)."""
    steps = importlib.import_module(f"core.steps.{page}").STEPS
    assert steps and all(isinstance(s, Step) for s in steps), f"core/steps/{page}.py: STEPS holds something else"
    return len(steps)


STEP_COUNTS = {page: _step_count(page) for page in PAGE_FILES}


def _ids(q):
    return q.id


# ---- the set of questions

def test_ids_and_steps_are_unique():
    ids = [q.id for q in qs.QUESTIONS]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    where = [(q.page, q.step) for q in qs.QUESTIONS]
    assert len(where) == len(set(where)), [w for w, n in Counter(where).items() if n > 1]


def test_every_question_sits_on_a_real_step_of_a_built_page():
    assert STEP_COUNTS["gan"] == 7 and STEP_COUNTS["guided"] == 5  # the lecture text as it is
    for q in qs.QUESTIONS:
        assert q.page in PAGE_FILES, f"{q.id}: page {q.page!r} is not in core.app_pages.PAGES"
        assert 1 <= q.step <= STEP_COUNTS[q.page], f"{q.id}: {q.page} has {STEP_COUNTS[q.page]} steps, not {q.step}"


def test_every_page_has_at_least_two_questions():
    per_page = Counter(q.page for q in qs.QUESTIONS)
    assert {p: per_page[p] for p in PAGE_FILES if per_page[p] < 2} == {}
    assert 16 <= len(qs.QUESTIONS) <= 30


def test_the_kinds_are_mixed():
    kinds = Counter(q.kind for q in qs.QUESTIONS)
    assert kinds["choice"] > len(qs.QUESTIONS) / 2
    assert kinds["number"] >= 3
    assert sum(q.figure is not None for q in qs.QUESTIONS) >= 3
    cgan = qs.for_step("gan", 7)
    assert cgan.kind == "pick" and cgan.figure == "gan-real-or-fake"
    scale = qs.for_step("guided", 5)
    assert scale.kind == "choice" and scale.figure == "guided-which-scale"
    assert any(q.page == "diffusion" and q.kind == "choice" and q.figure for q in qs.QUESTIONS)


def test_the_text_is_short_and_complete():
    for q in qs.QUESTIONS:
        assert q.prompt.strip() and q.explain.strip(), q.id
        assert len(q.prompt) <= 260, f"{q.id}: a prompt is one or two sentences"
        assert 80 <= len(q.explain) <= 500, f"{q.id}: an explanation is two or three sentences"
        assert all(0 < len(o) <= 30 for o in q.options), f"{q.id}: options are chart labels"
        assert len(set(q.options)) == len(q.options), q.id
        assert q.figure is None or q.figure in qs.FIGURES, q.id
        if q.kind == "choice":
            assert 2 <= len(q.options) <= 6, q.id
        if q.kind == "number":
            assert q.tolerance > 0 and not q.options, q.id
    # the right choice is not always in the same place
    assert len({int(q.answer) for q in qs.QUESTIONS if q.kind == "choice"}) >= 3


def test_lookups():
    for q in qs.QUESTIONS:
        assert qs.by_id(q.id) is q and qs.for_step(q.page, q.step) is q
    assert qs.by_id("no-such-question") is None and qs.for_step("gan", 99) is None


# ---- answers

def _right_raw(q):
    if q.kind == "choice":
        return int(q.answer)
    if q.kind == "pick":
        return list(reversed(q.answer))
    return q.answer


def _wrong_raw(q):
    if q.kind == "choice":
        return (int(q.answer) + 1) % len(q.options)
    if q.kind == "pick":
        rest = [i for i in range(len(q.options)) if i not in q.answer]
        return list(q.answer) + rest[:1] if rest else list(q.answer)[1:]
    lo, hi = q.bounds
    return lo if abs(q.answer - lo) > abs(q.answer - hi) else hi


@pytest.mark.parametrize("q", qs.QUESTIONS, ids=_ids)
def test_the_right_answer_parses_and_scores_right(q):
    canonical = q.parse(_right_raw(q))
    assert q.is_right(canonical)
    assert q.parse(canonical) == canonical          # canonical strings parse to themselves
    assert q.label(canonical) and q.right_answer()
    if q.kind == "number":
        assert q.right_answer().startswith(f"{float(q.answer):g}")
        assert q.is_right(q.parse(q.answer + 0.9 * q.tolerance))
    wrong = q.parse(_wrong_raw(q))
    assert not q.is_right(wrong)


@pytest.mark.parametrize("q", qs.QUESTIONS, ids=_ids)
def test_nonsense_is_refused(q):
    n = len(q.options)
    bad = ["9" * 1000, "x" * (qs.MAX_RAW + 1), "-1", "1e999", "nan", "inf", "<b>1</b>", "<script>", "one", None,
           "1; drop", "0x1", "²"]
    if q.kind in ("choice", "pick"):
        bad += [str(n), n, -1, 1000, "1.5", True, " "]
    if q.kind == "pick":
        bad += ["", [], ",", f"0,{n}", list(range(n + 1))]
    if q.kind == "number":
        lo, hi = q.bounds
        bad += [float("nan"), math.inf, lo - 1, hi + 1, ""]
    for raw in bad:
        with pytest.raises(ValueError):
            q.parse(raw)


def test_pick_parsing_is_order_free_and_canonical():
    q = qs.by_id("gan-real-or-fake")
    assert q.parse("7,1, 2 ,4") == q.parse([4, 1, 2, 7]) == q.parse((7, 4, 2, 1)) == "1,2,4,7"
    assert q.is_right("1,2,4,7") and not q.is_right("1,2,4") and not q.is_right("0,1,2,4,7")
    assert q.right_answer() == "2, 3, 5, 8"


def test_number_parsing_rounds():
    q = qs.by_id("gan-optimal-d")
    assert q.parse("0.5") == q.parse(" 0.499 ") == "0.50" and q.is_right("0.50")
    assert q.is_right(q.parse(0.52)) and not q.is_right(q.parse(0.55))
    assert q.parse(0) == "0.00" and q.parse(1) == "1.00"   # the bounds themselves are answers


# ---- the tally

def test_tally_choice():
    q = qs.by_id("diffusion-which-sampler")
    right, other = str(q.answer), str((q.answer + 1) % len(q.options))
    t = qs.tally(q, {"a": right, "b": right, "c": other, "d": ""})
    assert t["n"] == 3 and t["n_right"] == 2
    assert t["labels"] == list(q.options) and sum(t["counts"]) == 3
    assert t["counts"][q.answer] == 2 and t["counts"][int(other)] == 1
    assert t["right"] == [i == q.answer for i in range(len(q.options))]


def test_tally_pick():
    q = qs.by_id("gan-real-or-fake")
    t = qs.tally(q, {"a": "1,2,4,7", "b": "0,1", "c": "1"})
    assert t["n"] == 3 and t["n_right"] == 1
    assert t["counts"] == [1, 3, 1, 0, 1, 0, 0, 1]
    assert t["right"] == [i in q.answer for i in range(8)]


def test_tally_number():
    q = qs.by_id("gan-optimal-d")
    answers = {"a": q.parse(0.5), "b": q.parse(0.51), "c": q.parse(0.05), "d": q.parse(1.0)}
    t = qs.tally(q, answers)
    assert t["n"] == 4 and t["n_right"] == 2
    assert len(t["labels"]) == len(t["counts"]) == 10 and sum(t["counts"]) == 4
    assert t["counts"][0] == 1 and t["counts"][9] == 1           # 0.05 in the first bin, 1.0 in the last
    assert t["right"][5] and not t["right"][0] and not t["right"][9]
    assert qs.tally(q, {})["n"] == 0


def test_every_number_question_tallies_its_answer_into_a_right_bin():
    for q in qs.QUESTIONS:
        if q.kind == "number":
            t = qs.tally(q, {"a": q.parse(q.answer)})
            assert t["n_right"] == 1
            assert [r for r, c in zip(t["right"], t["counts"]) if c] == [True], q.id


# ---- figures

@pytest.fixture(scope="module")
def built():
    """Each figure built twice (the second build checks determinism)."""
    return {name: (build(), build()) for name, build in qs.FIGURES.items()}


def test_every_figure_belongs_to_a_question():
    used = {q.figure for q in qs.QUESTIONS if q.figure}
    assert used == set(qs.FIGURES)


def test_figures_are_valid_and_deterministic(built):
    for name, (a, b) in built.items():
        assert isinstance(a, qs.QuestionFigure), name
        im = a.images
        assert im.ndim in (3, 4) and 2 <= len(im) <= 16 and im.shape[1] <= 32 and im.shape[2] <= 32, (name, im.shape)
        assert np.issubdtype(im.dtype, np.floating) and np.isfinite(im).all(), name
        assert im.min() >= 0 and im.max() <= 1 and im.std() > 0.05, name           # a picture, not a blank
        assert len(a.captions) == len(a.reveal_captions) == len(im), name
        assert all(0 < len(c) <= 20 for c in a.captions + a.reveal_captions), name
        assert np.array_equal(a.images, b.images) and a.images.dtype == b.images.dtype, f"{name} is not deterministic"
        assert a.captions == b.captions and a.reveal_captions == b.reveal_captions, name


def test_the_pick_figure_matches_its_answer(built):
    for q in qs.QUESTIONS:
        if q.kind != "pick":
            continue
        fig = built[q.figure][0]
        assert len(fig.images) == len(q.options), q.id
        assert set(fig.reveal_captions) == {"real", "GAN"}
        assert {i for i, c in enumerate(fig.reveal_captions) if c == "real"} == set(q.answer), q.id
        assert len(set(fig.captions)) == len(fig.captions)                 # panels are told apart before the reveal
    im = built["gan-real-or-fake"][0].images
    assert len({im[i].tobytes() for i in range(len(im))}) == len(im)     # eight different digits


def test_the_guided_figure_shows_an_unguided_row(built):
    """s = 0 ignores the label: the evaluator reads most of the requested 3s as other digits."""
    q = qs.by_id("guided-which-scale")
    assert q.options[q.answer].startswith("0") and qs.GUIDED_SCALE == 0
    fig = built["guided-which-scale"][0]
    reads = [c.rsplit(" ", 1)[-1] for c in fig.reveal_captions]
    assert reads.count(str(qs.GUIDED_DIGIT)) <= 2 and len(set(reads)) >= 3


def test_the_sampler_figure_is_ddpm_and_ddim_would_repeat_itself(built):
    """The figure's eight runs differ; DDIM from the same copied x_T gives eight identical images, as the
    explanation says."""
    q = qs.by_id("diffusion-which-sampler")
    assert q.options[q.answer] == "DDPM"
    im = built["diffusion-which-sampler"][0].images
    assert min(np.abs(im[i] - im[j]).max() for i in range(8) for j in range(i)) > 0.3   # every pair differs
    import torch

    from core import diffusion

    torch.set_num_threads(1)
    model = diffusion.load_shipped("diffusion_mnist16_pixel", device="cpu")
    x_T = diffusion.noise(model, 1, qs.SAMPLER_SEED).expand(8, *model.shape)
    ddim = model.to_data(diffusion.reverse(model, sampler="ddim", steps=10, seed=qs.SAMPLER_SEED + 100, x_t=x_T).x_0)
    assert np.abs(ddim - ddim[0]).max() == 0


def test_importing_the_questions_does_not_import_torch():
    code = "import sys, core.questions as q; assert q.QUESTIONS and q.FIGURES; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
