"""Ready-made lesson links, in the lecture's order: pure data, no Streamlit.

A lesson opens one page in walkthrough mode at one step (``walkthrough=true&step=N``) and may hide
controls that the lesson does not need (``hide=key1,key2``; the keys are the pages' URL parameters,
plus ``code`` for the "Show the code" expanders). The home page lists these; a teacher can build
others the same way, or add ``present=true`` for the presenter view. tests/test_lessons.py opens
every lesson and checks that it lands on the right step with nothing in the link ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True)
class Step:
    title: str      # short heading
    latex: str      # the lecture's equation for this step (LaTeX, no $)
    text: str       # two or three sentences, in our own words
    section: str    # which figure section of the page it explains


@dataclass(frozen=True)
class View:
    """One view of a page in explore mode: a label for the switch, the sections it draws, and the
    URL keys of the widgets that only these sections draw (so a link may carry them while another
    view is shown, without a notice calling them unknown)."""
    label: str
    sections: tuple[str, ...]
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lesson:
    title: str
    page: str                 # url_path of the page (core.app_pages)
    step: int                 # walkthrough step, from 1
    about: str                # one line: what the students see
    hide: tuple[str, ...] = field(default_factory=tuple)
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # other view settings, (key, value)

    def query(self, present: bool = False) -> dict[str, str]:
        q = {"walkthrough": "true", "step": str(self.step), **dict(self.extra)}
        if self.hide:
            q["hide"] = ",".join(self.hide)
        if present:
            q["present"] = "true"
        return q

    def link(self, base: str = "", present: bool = False) -> str:
        return f"{base}/{self.page}?{urlencode(self.query(present))}"


GAN_KNOBS = ("loss", "lrd", "lrg", "k", "batch", "b1", "b2", "gw", "gd", "dw", "dd", "nz", "noise", "act", "pack", "mbstd")
FLOW_KNOBS = ("K", "width", "steps", "lr", "coupling")

LESSONS: list[Lesson] = [
    Lesson("Generative or discriminative: one data set, two models", "bayes", 1,
           "Naive Bayes and logistic regression side by side: P(y|x) over the plane from Bayes' rule and from a direct fit.",
           hide=("code",)),
    Lesson("New data from a generative model", "bayes", 5,
           "Draw (x, y) pairs from naive Bayes' joint P(Y) P(X|Y); logistic regression has nothing to draw from.",
           hide=("code",)),
    Lesson("Naive Bayes is a linear model", "bayes", 6,
           "Shared variances cancel the squared terms: NB's log-odds become exactly linear, with weights computed, not fitted.",
           hide=("code",)),
    Lesson("Who needs less data? Learning curves", "bayes", 7,
           "Ng & Jordan (2002), measured on digits: which settings of NB (variance smoothing) and LR (raw or "
           "standardised pixels) give NB its early lead with little data, and why.", hide=("code",)),
    Lesson("A GAN: two networks, one game", "gan", 1,
           "Generator and discriminator training live on a ring of 8 Gaussians; hyperparameters hidden.",
           hide=GAN_KNOBS + ("code",)),
    Lesson("At the optimum D = 1/2", "gan", 5,
           "Train until the generator matches the data and watch D(x) flatten to 1/2 everywhere.", hide=GAN_KNOBS + ("code",)),
    Lesson("Mode collapse", "gan", 6,
           "Opens on PacGAN's ring with D three steps ahead: G jumps between a few of the 8 modes; presets that "
           "saturate or collapse, and the remedies side by side (PacGAN packing, minibatch std, balanced players), "
           "each with what it measured.", hide=("code",),
           # the collapse_pacgan preset's settings and its shipped checkpoint's iterations: opens collapsed at once
           extra=(("data", "PacGAN's ring (std 0.01)"), ("lrd", "0.003"), ("k", "3"), ("it", "4000"))),
    Lesson("The conditional GAN", "gan", 7, "Feed the label to both players: ask for one mode, or one digit.", hide=("code",)),
    Lesson("The ELBO, term by term", "vae", 5,
           "Reconstruction and KL during training, and the gap to the IWAE estimate of ln p(x).", hide=("code",)),
    Lesson("The reparameterization trick", "vae", 6,
           "z = mu + sigma * eps: the randomness moved into eps, so gradients reach mu and sigma.", hide=("code",)),
    Lesson("Generating: decode the prior", "vae", 8, "A grid over the 2-D latent space, decoded into digits.",
           hide=("code",)),
    Lesson("The change of variables", "flow", 1,
           "A flow's exact density: the base Gaussian carried through invertible maps, scaled by |det J|.",
           hide=FLOW_KNOBS + ("code",)),
    Lesson("Layer by layer: affine coupling", "flow", 3,
           "Watch each coupling layer warp a Gaussian into two moons, and carry data back.", hide=FLOW_KNOBS + ("code",)),
    Lesson("Anomaly detection by density", "flow", 8,
           "Score points by their exact log-density; move the threshold, add your own point.", hide=FLOW_KNOBS + ("code",)),
    Lesson("The forward process in one jump", "diffusion", 2,
           "x_t from x_0 in closed form, checked against running the noising chain step by step.", hide=("code",)),
    Lesson("Sampling: Algorithm 2, step by step", "diffusion", 5,
           "From pure noise to digits: x_t, the predicted noise and the implied clean image at every step.",
           hide=("code",)),
    Lesson("Latent diffusion", "diffusion", 8, "The same algorithm on an autoencoder's codes: faster, the way Stable "
           "Diffusion works.", hide=("code",)),
    Lesson("Classifier guidance", "guided", 3,
           "A noise-aware classifier's gradient pushes every reverse step towards the digit asked for.", hide=("code",)),
    Lesson("Classifier-free guidance", "guided", 4,
           "One network with and without the label; extrapolate from the unconditional prediction.", hide=("code",)),
    Lesson("The guidance scale: fidelity against diversity", "guided", 5,
           "Measured: the share of samples that are the requested digit rises with s, their variety falls.",
           hide=("code",)),
    Lesson("Text to image: cross-attention", "text_to_image", 3,
           "The U-Net reads the text encoder's token states through cross-attention, as in Stable Diffusion.",
           hide=("code",)),
    Lesson("Text to image: guidance and its trade-off", "text_to_image", 6,
           "The same seeds at several guidance scales, and the measured prompt fidelity against diversity.",
           hide=("code",)),
    Lesson("Which family wins what", "compare", 5,
           "GAN, VAE, flow and diffusion on the same points for the same seconds: the table and its reading.",
           hide=("code",)),
]


def lessons_for(pages: set[str]) -> list[Lesson]:
    """The lessons whose page exists (a lesson never links to a page that is not built)."""
    return [lesson for lesson in LESSONS if lesson.page in pages]


def _link(href: str, text: str) -> str:
    from html import escape

    return f'<a href="{escape(href)}" target="_self">{escape(text)}</a>'


def pages_list(pages) -> str:
    """The pages as one markdown list of same-tab links with their one-line blurbs (``core.app_pages`` specs)."""
    from html import escape

    return "\n".join(f"- **{_link(p.url_path, p.title)}**: {escape(p.blurb)}" for p in pages)


def lessons_table(lessons: list[Lesson], titles: dict[str, str]) -> str:
    """The lessons as one markdown list, grouped by page in the lecture's order (a list, not a table, so it
    reads on a phone), whose links are plain same-tab links: clicked, a lesson opens exactly as the same link
    pasted into the address bar (a page link inside the app would keep the session's own walkthrough and view).
    ``titles``: page url_path -> title. Static text only (GenLab's own lesson list), escaped, rendered with
    ``unsafe_allow_html`` for the links' target."""
    from html import escape

    link = _link
    out, page = [], None
    for lesson in lessons:
        if lesson.page != page:
            page = lesson.page
            out.append(f"\n**{escape(titles.get(page, page))}**\n")
        out.append(f"- {link(lesson.link()[1:], f'Step {lesson.step}: {lesson.title}')} "
                   f"({link(lesson.link(present=True)[1:], 'presenter view')}): {escape(lesson.about)}")
    return "\n".join(out)
