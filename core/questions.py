"""Questions for the class, one per lesson step that has one: pure data and pure functions, no Streamlit.

A teacher leading a class (``core.classroom``) asks the question of the step the class is on; students
answer on their own devices; the presenter view charts the answers live and then reveals the right one with
the figure that explains it. The questions themselves are data, in ``core/questions.toml``. Three kinds:

- ``choice``: one of ``options`` (the answer is its index);
- ``number``: a number within ``bounds``; right within ``tolerance`` of ``answer``;
- ``pick``: any subset of the panels of a figure (``options`` labels the panels; the answer is the set of
  indices), e.g. "which of these 8 digits are real?".

A student's answer never travels as text: :meth:`Question.parse` turns what the widget sent into a short
canonical string (an index, a sorted list of indices, or a rounded number) or refuses it, so nothing a student
types is ever shown to anyone else, and the store keeps a few bytes per answer.

Figures are built by the functions in :data:`FIGURES` (deterministic, from shipped checkpoints and the
project's own data), so every student and the teacher see the same picture; the app layer caches them once
per process.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = ("choice", "number", "pick")
MAX_RAW = 64  # characters: the longest raw answer accepted (a pick of 16 panels is "0,1,...,15": 37)


@dataclass(frozen=True)
class QuestionFigure:
    """What a question shows: image panels (``images``: (n, h, w) or (n, h, w, 3) floats in [0, 1]) with a
    caption each, and the captions that replace them when the answer is revealed (e.g. "real" / "GAN")."""
    images: np.ndarray
    captions: tuple[str, ...]
    reveal_captions: tuple[str, ...]

    def __post_init__(self):
        if len(self.captions) != len(self.images) or len(self.reveal_captions) != len(self.images):
            raise ValueError("a question figure needs one caption and one revealed caption per image")


@dataclass(frozen=True)
class Question:
    id: str                       # stable and unique, e.g. "gan-real-or-fake"; the CSV export names it
    page: str                     # the page's url_path (core.app_pages)
    step: int                     # the walkthrough step it belongs to, from 1
    prompt: str                   # one or two sentences (GenLab's own text: markdown and $LaTeX$ allowed)
    kind: str                     # one of KINDS
    answer: object                # choice: int index; pick: tuple of indices; number: float
    explain: str                  # shown at the reveal: why the answer is right, in terms of the figure
    options: tuple[str, ...] = ()  # choice: the options; pick: one label per figure panel
    tolerance: float = 0.0        # number: right within this distance of ``answer``
    bounds: tuple[float, float] = (0.0, 0.0)  # number: the range an answer must lie in
    decimals: int = 2             # number: answers are rounded to this many decimals
    unit: str = ""                # number: shown after the input, e.g. "%"
    figure: str | None = None     # a key of FIGURES: the picture the question is about
    tags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"question {self.id!r}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind == "choice" and not (0 <= int(self.answer) < len(self.options)):
            raise ValueError(f"question {self.id!r}: the answer must index one of its {len(self.options)} options")
        if self.kind == "pick":
            if self.figure is None or not self.options:
                raise ValueError(f"question {self.id!r}: a pick needs a figure and one label per panel")
            if any(not 0 <= i < len(self.options) for i in self.answer):
                raise ValueError(f"question {self.id!r}: the answer must index the figure's panels")
        if self.kind == "number":
            lo, hi = self.bounds
            if not (lo < hi and lo <= float(self.answer) <= hi):
                raise ValueError(f"question {self.id!r}: the answer must lie within its bounds")

    # -- answers
    def parse(self, raw) -> str:
        """A student's answer as the widget sent it -> its canonical string; ValueError when it is none.

        choice: an index (int or digit string); pick: indices as an iterable or "0,3,5" (any order, no
        repeats, at least one); number: a finite number within ``bounds`` (rounded to ``decimals``)."""
        if isinstance(raw, str) and len(raw) > MAX_RAW:
            raise ValueError(f"an answer is at most {MAX_RAW} characters")
        if self.kind == "choice":
            i = _index(raw)
            if not 0 <= i < len(self.options):
                raise ValueError(f"choose one of the {len(self.options)} options")
            return str(i)
        if self.kind == "pick":
            try:
                items = raw.split(",") if isinstance(raw, str) else list(raw)
            except TypeError:  # a bare number, None, True: not a list of panels
                raise ValueError("pick the panels as a list of their numbers") from None
            if len(items) > len(self.options):
                raise ValueError(f"pick at most {len(self.options)} panels")
            picked = sorted({_index(x) for x in items if str(x).strip() != ""})
            if not picked:
                raise ValueError("pick at least one panel")
            if any(not 0 <= i < len(self.options) for i in picked):
                raise ValueError(f"panels are numbered 1 to {len(self.options)}")
            return ",".join(map(str, picked))
        try:
            x = float(raw)
        except (TypeError, ValueError):
            raise ValueError("enter a number") from None
        lo, hi = self.bounds
        if not (math.isfinite(x) and lo <= x <= hi):
            raise ValueError(f"enter a number from {lo:g} to {hi:g}")
        return f"{round(x, self.decimals):.{self.decimals}f}"

    def is_right(self, canonical: str) -> bool:
        if self.kind == "choice":
            return int(canonical) == int(self.answer)
        if self.kind == "pick":
            return tuple(int(i) for i in canonical.split(",")) == tuple(sorted(self.answer))
        return abs(float(canonical) - float(self.answer)) <= self.tolerance + 1e-9

    def right_answer(self) -> str:
        """The right answer in words, for the reveal."""
        if self.kind == "choice":
            return self.options[int(self.answer)]
        if self.kind == "pick":
            return ", ".join(self.options[i] for i in sorted(self.answer))
        tol = f" (within {self.tolerance:g})" if self.tolerance else ""
        return f"{float(self.answer):g}{self.unit}{tol}"

    def label(self, canonical: str) -> str:
        """A canonical answer in words, for the chart and the CSV."""
        if self.kind == "choice":
            return self.options[int(canonical)]
        if self.kind == "pick":
            return ", ".join(self.options[int(i)] for i in canonical.split(","))
        return canonical


def _index(raw) -> int:
    if isinstance(raw, bool):
        raise ValueError("not an option")  # noqa: TRY004 - parse() refuses every bad answer with ValueError
    if isinstance(raw, (int, np.integer)):
        return int(raw)
    s = str(raw).strip()
    if not (s.isascii() and s.isdigit()) or len(s) > 3:  # ASCII only: "²".isdigit() is True
        raise ValueError("not an option")
    return int(s)


def tally(question: Question, answers: dict[str, str]) -> dict:
    """The class's answers to one question, for the live chart: ``{"labels", "counts", "right", "n"}``.

    choice: a count per option; pick: per panel, how many students picked it; number: a histogram of 10
    bins over ``bounds``. ``right`` marks the bars that are (part of) the right answer; ``n`` counts the
    students who answered and ``n_right`` those whose whole answer is right."""
    values = [a for a in answers.values() if a]
    out = {"n": len(values), "n_right": sum(question.is_right(a) for a in values)}
    if question.kind == "choice":
        counts = [0] * len(question.options)
        for a in values:
            counts[int(a)] += 1
        out.update(labels=list(question.options), counts=counts,
                   right=[i == int(question.answer) for i in range(len(counts))])
    elif question.kind == "pick":
        counts = [0] * len(question.options)
        for a in values:
            for i in a.split(","):
                counts[int(i)] += 1
        out.update(labels=list(question.options), counts=counts,
                   right=[i in set(question.answer) for i in range(len(counts))])
    else:
        lo, hi = question.bounds
        edges = np.linspace(lo, hi, 11)
        counts, _ = np.histogram([float(a) for a in values], bins=edges)
        a = float(question.answer)
        out.update(labels=[f"{edges[i]:g} to {edges[i + 1]:g}" for i in range(10)], counts=counts.tolist(),
                   right=[edges[i] - question.tolerance <= a <= edges[i + 1] + question.tolerance for i in range(10)])
    return out


# ---- figures: name -> builder returning a QuestionFigure (deterministic; cached by the app layer)

FIGURES: dict[str, Callable[[], QuestionFigure]] = {}


def figure(name: str):
    """Register a figure builder under ``name``."""
    def register(fn):
        FIGURES[name] = fn
        return fn
    return register


# Each builder imports torch and the model modules itself, so ``import core.questions`` stays cheap (no torch),
# loads on the CPU (the same picture on every server), and fixes every seed. None changes torch's thread count:
# that is process-wide, and a server builds figures while other sessions compute.

#: the real-or-GAN pick: (source, digit) per panel, in a fixed shuffled order
GAN_PANELS = (("GAN", 3), ("real", 7), ("real", 0), ("GAN", 4), ("real", 5), ("GAN", 1), ("GAN", 9), ("real", 6))
GAN_SEED = 1          # the seed of the GAN's noise (its four digits are among its better ones)
REAL_OFFSET = 10      # the real digits: the 11th training example of each class
GUIDED_DIGIT, GUIDED_SCALE, GUIDED_SEED, GUIDED_STEPS = 3, 0.0, 0, 50
SAMPLER_SEED, SAMPLER_STEPS = 1, 50   # the DDPM-or-DDIM figure: x_T of seed 1, then the step noise of seed 101


@figure("gan-real-or-fake")
def gan_real_or_fake() -> QuestionFigure:
    """Four real training digits and four samples of the shipped digit cGAN (``gan_mnist_cgan``), 28x28."""
    from core import gan

    model = gan.load_shipped("gan_mnist_cgan", device="cpu")
    data = gan.load_data(model.config)             # the cGAN's own training digits, in [-1, 1]
    fakes = [d for src, d in GAN_PANELS if src == "GAN"]
    fake = iter(gan.to_images(model.sample(len(fakes), seed=GAN_SEED, y=np.asarray(fakes))))
    images = []
    for src, d in GAN_PANELS:
        if src == "real":
            images.append(gan.to_images(data.X[np.flatnonzero(data.y == d)[REAL_OFFSET]][None])[0])
        else:
            images.append(next(fake))
    return QuestionFigure(np.stack(images).astype(np.float32), tuple(str(i + 1) for i in range(len(GAN_PANELS))),
                          tuple(src for src, _ in GAN_PANELS))


@figure("guided-which-scale")
def guided_which_scale() -> QuestionFigure:
    """Eight samples of the shipped guided model asked for a 3 at one classifier-free guidance scale, 16x16;
    revealed, each panel says which digit the shipped evaluator reads."""
    from core import guided

    model = guided.load(device="cpu")
    images = guided.sample(model, GUIDED_DIGIT, n=8, guidance="cfg", scale=GUIDED_SCALE, sampler="ddim",
                           steps=GUIDED_STEPS, seed=GUIDED_SEED)
    _, probs = guided.load_evaluator(device="cpu").features_and_probs(images)
    return QuestionFigure(np.asarray(images, np.float32), (f"asked: {GUIDED_DIGIT}",) * len(images),
                          tuple(f"reads as {int(k)}" for k in probs.argmax(1)))


@figure("diffusion-which-sampler")
def diffusion_which_sampler() -> QuestionFigure:
    """One starting noise x_T copied eight times and sampled by the shipped pixel model with DDPM (50 steps): the
    step noise z differs per copy, so the digits differ. (DDIM from these eight copies gives eight equal images.)"""
    from core import diffusion

    model = diffusion.load_shipped("diffusion_mnist16_pixel", device="cpu")
    x_T = diffusion.noise(model, 1, SAMPLER_SEED).expand(8, *model.shape)
    run = diffusion.reverse(model, sampler="ddpm", steps=SAMPLER_STEPS, seed=SAMPLER_SEED + 100, x_t=x_T)
    images = model.to_data(run.x_0)
    return QuestionFigure(np.asarray(images, np.float32), tuple(f"run {i + 1}" for i in range(len(images))),
                          ("DDPM",) * len(images))


# ---- the questions, in the lecture's order

QUESTIONS_FILE = Path(__file__).with_name("questions.toml")


def load_questions(path=QUESTIONS_FILE) -> list[Question]:
    """The questions, written as data in ``core/questions.toml`` (one ``[[question]]`` table each, in the
    lecture's order) and checked here: a malformed one raises ValueError naming it."""
    import tomllib

    out = []
    for d in tomllib.loads(Path(path).read_text())["question"]:
        d = dict(d)
        for key in ("options", "tags"):
            d[key] = tuple(d.get(key, ()))
        if "bounds" in d:
            d["bounds"] = tuple(float(b) for b in d["bounds"])
        if d.get("kind") == "pick":
            d["answer"] = tuple(d["answer"])
        try:
            out.append(Question(**d))
        except TypeError as e:
            raise ValueError(f"question {d.get('id')!r}: {e}") from None
    return out


QUESTIONS: list[Question] = load_questions()


def for_step(page: str, step: int) -> Question | None:
    """The question of one lesson step, or None."""
    for q in QUESTIONS:
        if q.page == page and q.step == step:
            return q
    return None


def by_id(qid: str) -> Question | None:
    for q in QUESTIONS:
        if q.id == qid:
            return q
    return None
