"""Questions for the class, one per lesson step that has one: pure data and pure functions, no Streamlit.

A teacher leading a class (``core.classroom``) asks the question of the step the class is on; students
answer on their own devices; the presenter view charts the answers live and then reveals the right one with
the figure that explains it. Three kinds:

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

QUESTIONS: list[Question] = [
    # -- discriminative vs generative
    Question("bayes-which-is-generative", "bayes", 1,
             "Which of the two models on this page could draw *new* points $(\\mathbf{x}, y)$ that look like the data?",
             "choice", 0,
             "Naive Bayes models the joint $P(Y)\\prod_j P(X_j\\mid Y)$, so it can sample $y$ and then $\\mathbf{x}$. "
             "Logistic regression only models $P(Y\\mid\\mathbf{X})$: it has no distribution over $\\mathbf{x}$ to draw from.",
             options=("Naive Bayes", "Logistic regression", "Both", "Neither")),
    Question("bayes-when-linear", "bayes", 6,
             r"NB's log-odds are $b+\sum_j w_j x_j+\sum_j a_j x_j^2$. When do the squared terms drop out, "
             r"leaving a linear classifier?",
             "choice", 2,
             r"$a_j=\frac{1}{2\sigma_{0,j}^2}-\frac{1}{2\sigma_{1,j}^2}$ is zero exactly when both classes have the same "
             r"variance for feature $j$. Independence is assumed either way, and the priors and means only move $b$ "
             r"and $w_j$, so the boundary stays a straight line.",
             options=("Features are independent", "Classes are equally likely", "Classes share each variance",
                      "Class means are equal")),
    Question("bayes-less-data", "bayes", 7,
             "Digits 0 vs 1 with 2 training images per class, at the page's default setting (NB with scikit-learn's "
             "variance smoothing 1e-9, LR on raw pixels): which classifier has the lower test error on the curves?",
             "choice", 1,
             "Logistic regression: at m = 2 per class, averaged over the page's 20 splits, NB errs on about 9 % and LR "
             "on about 4 %. With 2 images NB estimates each pixel's variance from 2 values; pixels both images leave "
             "blank get a near-zero variance, so a little ink there vetoes a class. Ng & Jordan's 'NB wins with little "
             "data' shows on these digits only with NB's variances smoothed (0.1) and LR on pixels standardised with "
             "the few training images' mean and std: then NB leads up to m = 10.",
             options=("Naive Bayes", "Logistic regression", "They tie")),
    # -- GANs
    Question("gan-optimal-d", "gan", 5,
             r"The generator has learned the data exactly, $p_g=p_r$. What value does the optimal $D^*(\mathbf x)$ "
             r"take, everywhere?",
             "number", 0.5,
             r"$D^*(\mathbf x)=\frac{p_r(\mathbf x)}{p_r(\mathbf x)+p_g(\mathbf x)}$, and with $p_g=p_r$ that is "
             r"$\tfrac12$ at every point: real and fake are equally likely, so $D$ can do no better than a coin "
             r"flip. The heatmap fades to white and the loss settles at $-\ln 4$.",
             tolerance=0.02, bounds=(0.0, 1.0)),
    Question("gan-saturation", "gan", 6,
             r"With the lecture's loss, $G$ minimises $\ln(1-D(G(\mathbf z)))$. Why do $G$'s arrows vanish once "
             r"$D$ confidently rejects every fake?",
             "choice", 1,
             r"$D$ ends in a sigmoid, and $\ln(1-D)$ goes flat in $D$'s logit as $D\to 0$: the gradient that reaches "
             r"$G$ is proportional to $D(G(\mathbf z))$ itself, so it vanishes just when $G$ most needs it. The "
             r"non-saturating loss $-\ln D(G(\mathbf z))$ has the same optimum but its gradient is largest there.",
             options=("D stops learning", "ln(1-D) flattens as D -> 0", "G's learning rate is 0",
                      "The fakes already match")),
    Question("gan-real-or-fake", "gan", 7,
             "Four of these digits are real training digits and four were drawn by the conditional GAN. "
             "Which are **real**?",
             "pick", (1, 2, 4, 7),
             "Panels 2, 3, 5 and 8 are real MNIST training digits. The cGAN's (1, 4, 6, 7) have the right shape for "
             "their label, but look closely: ragged strokes and stray grey speckles around them, which a pen "
             "stroke never leaves.",
             options=tuple(str(i + 1) for i in range(len(GAN_PANELS))), figure="gan-real-or-fake"),
    # -- VAEs
    Question("vae-kl-term", "vae", 5,
             r"The encoder gives $\boldsymbol\mu=(1,0)$ and $\boldsymbol\sigma=(1,1)$. What is the KL term "
             r"$D_{KL}(q_\phi\,\|\,\mathcal N(\mathbf 0,I))$, in nats?",
             "number", 0.5,
             r"$\tfrac12\sum_j(\mu_j^2+\sigma_j^2-1-\ln\sigma_j^2)=\tfrac12\big[(1+1-1-0)+(0+1-1-0)\big]=0.5$. "
             r"The widths already match the prior, so the whole cost is the shifted mean: the KL term pulls "
             r"every code towards the origin.",
             tolerance=0.02, bounds=(0.0, 10.0)),
    Question("vae-why-reparam", "vae", 6,
             r"Why write $\mathbf z=\boldsymbol\mu+\boldsymbol\sigma\odot\boldsymbol\epsilon$ with "
             r"$\boldsymbol\epsilon\sim\mathcal N(\mathbf 0,I)$ instead of drawing $\mathbf z\sim q_\phi$ directly?",
             "choice", 3,
             r"A draw from $q_\phi$ has no derivative with respect to $\phi$. Moving the randomness into "
             r"$\boldsymbol\epsilon$, which has no parameters, makes $\mathbf z$ a plain function of "
             r"$\boldsymbol\mu$ and $\boldsymbol\sigma$ ($\partial\mathbf z/\partial\boldsymbol\mu=1$, "
             r"$\partial\mathbf z/\partial\boldsymbol\sigma=\boldsymbol\epsilon$), so back-propagation reaches the encoder.",
             options=("It samples faster", "It tightens the ELBO", "It removes the KL term",
                      "So gradients reach mu, sigma")),
    Question("vae-decode-prior", "vae", 8,
             "Every point of the VAE's latent plane decodes to something digit-like; the plain autoencoder's "
             "gaps decode to blurs. What makes the difference?",
             "choice", 1,
             "The KL term pulls every posterior towards $\\mathcal N(\\mathbf 0,I)$, so the codes fill the prior's "
             "bulk without gaps and the decoder learns to decode all of it. The autoencoder's codes land wherever "
             "training put them, and the decoder never saw the space between.",
             options=("A bigger decoder", "The KL term", "More training steps", "A 2-D latent space")),
    # -- normalizing flows
    Question("flow-volume-factor", "flow", 1,
             r"A flow maps $\mathbf x=2\mathbf z$ in the plane (it doubles every length). $p_x(\mathbf x)$ is "
             r"$p_0(\mathbf z)$ divided by what?",
             "number", 4.0,
             r"The Jacobian is $2I$, so $|\det J|=2\cdot 2=4$: every patch of area grows four times, and the same "
             r"probability spread over four times the area is four times thinner. In $d$ dimensions it would be $2^d$.",
             tolerance=0.01, bounds=(0.0, 100.0)),
    Question("flow-coupling-det", "flow", 3,
             "Why is the determinant of an affine coupling layer's Jacobian cheap to compute?",
             "choice", 0,
             r"The kept half passes through unchanged, and the moved half's shift and scale depend on the kept half "
             r"only, so the Jacobian is triangular: its determinant is the product of the diagonal, "
             r"$\ln|\det J|=-\sum_b s_b$, with no matrix to factorise.",
             options=("Its Jacobian is triangular", "Its networks are linear", "It is always 1",
                      "It is estimated by sampling")),
    Question("flow-anomaly-gan", "flow", 8,
             "Scoring anomalies by $\\ln p_\\theta(\\mathbf x)$ works for a flow. Why could a GAN not do the same?",
             "choice", 2,
             r"A GAN is an implicit model: it defines $p_g$ only through sampling $G(\mathbf z)$, and $G$ is not "
             r"invertible, so there is no density to evaluate at a typed point. The flow's change of variables "
             r"gives the exact $\ln p$ anywhere in the plane.",
             options=("Its samples are too sharp", "It needs labels", "It has no p(x) to evaluate",
                      "It can, just as well")),
    # -- diffusion
    Question("diffusion-one-jump", "diffusion", 2,
             r"To get $\mathbf x_{500}$ from a training image $\mathbf x_0$, how many passes through the network "
             r"does the forward process need?",
             "choice", 3,
             r"None: the forward process has no network at all. Gaussian steps compose, so "
             r"$\mathbf x_t=\sqrt{\bar\alpha_t}\,\mathbf x_0+\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon$ draws "
             r"$\mathbf x_{500}$ in one step, which is why training can pick a random $t$ for every example.",
             options=("500", "1000", "1", "None")),
    Question("diffusion-which-sampler", "diffusion", 7,
             r"These 8 digits all started from **the same** noise $\mathbf x_T$ and went through the same trained "
             r"network. Which sampler made them?",
             "choice", 0,
             r"DDPM: every step adds fresh noise $\sigma_t\mathbf z$, and early on it is large enough to send the same "
             r"$\mathbf x_T$ to different digits. DDIM adds no noise, so from one $\mathbf x_T$ it gives one image: "
             r"the same network with DDIM draws eight identical digits here.",
             options=("DDPM", "DDIM", "Either could have", "Neither"), figure="diffusion-which-sampler"),
    Question("diffusion-latent-decode", "diffusion", 8,
             "In latent diffusion, how often does the autoencoder's decoder run to make one digit?",
             "choice", 1,
             r"Every reverse step runs on the 64-number code; only the final $\hat{\mathbf z}_0$ is decoded into "
             r"pixels, once. That is where the speed-up comes from: the many denoising passes never touch the "
             r"full image.",
             options=("At every step", "Once, at the end", "Twice per step", "Never")),
    # -- guided diffusion
    Question("guided-noisy-classifier", "guided", 3,
             r"Why is the guidance classifier $p_\phi(y\mid\mathbf x_t,t)$ trained on *noisy* images rather than "
             r"clean digits?",
             "choice", 1,
             r"Its gradient is taken at $\mathbf x_t$ during every reverse step, and for most of the run "
             r"$\mathbf x_t$ is mostly noise. A classifier of clean digits would give meaningless gradients there; "
             r"one trained on $\mathbf x_t$ at every $t$ knows which pixels hint at each digit at each noise level.",
             options=("Noise regularises it", "It is applied to x_t", "Clean digits are too easy",
                      "It must learn the null label")),
    Question("guided-cfg-scale", "guided", 4,
             r"Classifier-free guidance: $\hat{\boldsymbol\epsilon}=\boldsymbol\epsilon_\theta(\mathbf x_t|\varnothing)"
             r"+s\,(\boldsymbol\epsilon_\theta(\mathbf x_t|y)-\boldsymbol\epsilon_\theta(\mathbf x_t|\varnothing))$. "
             r"Which $s$ gives the plain conditional model?",
             "choice", 1,
             r"At $s=1$ the two unconditional terms cancel and $\hat{\boldsymbol\epsilon}=\boldsymbol\epsilon_\theta"
             r"(\mathbf x_t|y)$. $s=0$ is the unconditional model, and $s>1$ extrapolates past the conditional one, "
             r"exaggerating what the label changes.",
             options=("s = 0", "s = 1", "s > 1", "None of these")),
    Question("guided-which-scale", "guided", 5,
             "We asked the classifier-free guided model for eight **3**s. At which guidance scale $s$ were these drawn?",
             "choice", 0,
             r"At $s=0$ the guided noise prediction is $\boldsymbol\epsilon_\theta(\mathbf x_t|\varnothing)$: the label "
             r"is ignored, so each noise becomes whatever digit it leads to: the evaluator reads most of these as other "
             r"digits. From $s=1$ on nearly all of them are 3s, and larger $s$ makes them ever more alike.",
             options=("0 (no guidance)", "1", "3", "8"), figure="guided-which-scale"),
    # -- text to image
    Question("t2i-cross-attention", "text_to_image", 3,
             "In the U-Net's cross-attention, where do the keys $K$ and values $V$ come from?",
             "choice", 2,
             r"$K=W_K\mathbf c$ and $V=W_V\mathbf c$ come from the text encoder's token states; only the queries "
             r"come from the noisy latent. So each image position asks which words concern it and takes in "
             r"their content.",
             options=("The noisy latent", "The timestep", "The prompt's tokens", "The decoder")),
    Question("t2i-latent-ratio", "text_to_image", 5,
             r"GenLab mini's U-Net works on $4\times8\times8$ latents instead of $3\times32\times32$ images. "
             r"How many times fewer numbers is that?",
             "number", 12.0,
             r"$3\cdot32\cdot32=3072$ pixels against $4\cdot8\cdot8=256$ latent numbers: 12 times fewer, at every one "
             r"of the many denoising steps; the decoder runs once at the end. Stable Diffusion's "
             r"$4\times64\times64$ latents of $3\times512\times512$ images save a factor of 48.",
             tolerance=0.5, bounds=(1.0, 100.0)),
    # -- comparing the families
    Question("compare-bound-above", "compare", 3,
             "A VAE's bound says its NLL is **at most** 2.3 nats on these points; a flow's exact NLL is 2.1. "
             "What does that prove?",
             "choice", 2,
             "The VAE's true NLL lies somewhere at or below 2.3, possibly below 2.1 or possibly above it, so "
             "nothing is proven. Only a bound *below* the other model's exact value would prove the bounded model "
             "better.",
             options=("The flow is better", "The VAE is better", "Nothing")),
    Question("compare-many-passes", "compare", 5,
             "Which family needs many network passes to draw a single sample?",
             "choice", 3,
             "A diffusion model denoises step by step, one network pass per reverse step (dozens to a thousand). "
             "A GAN, a VAE's decoder and a flow each map noise to a sample in one pass.",
             options=("GAN", "VAE", "Flow", "Diffusion")),
]


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
