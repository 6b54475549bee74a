"""Home: the lecture's map and the way into every page and lesson, in a handful of elements.

A class opens this page at once, so it is light: text, two tables and one list, not a bordered
container per page and per lesson (213 messages per open before, 10 now). Lesson links are plain
links: clicked, they open the lesson exactly as the same link pasted into a new tab does.
"""
import streamlit as st

from core import class_ui, ui
from core.app_pages import PAGES
from core.lessons import lessons_for, lessons_table, pages_list

ui.require_router()

st.title("GenLab")
st.markdown(
    "#### See generative models work: trained here, live, in your browser.\n\n"
    "GenLab follows the lecture *Generative Models: discriminative vs generative*. Each page trains a model "
    "in front of you (or opens a checkpoint trained by GenLab's own code), lets you change what matters, and "
    "shows the lecture's equations next to the figures they explain. Turn on **Walkthrough** in the sidebar "
    "to go through a page one idea at a time; copy the link in the sidebar to share exactly what you see."
)

st.markdown(
    "### Discriminative or generative?\n\n"
    "**Discriminative models** learn $P(Y \\mid \\mathbf{X})$ (or the label directly): enough to classify, "
    "but nothing to say about the inputs themselves. *Logistic regression* is the archetype.\n\n"
    "**Generative models** learn $P(Y, \\mathbf{X})$ or just $P(\\mathbf{X})$: they model the whole data "
    "distribution, so they can also *make new data*. *Naive Bayes* is the archetype; GANs, VAEs, flows and "
    "diffusion models do it for images.\n\n"
    "### The families of the lecture\n"
    """
| family | how it models the data | likelihood $p(\\mathbf{x})$ | sample | score a point | condition on a label or text |
|---|---|---|---|---|---|
| Naive Bayes | $P(Y)\\prod_j P(X_j\\mid Y)$, explicit | exact (under its assumption) | yes | yes | it *is* conditional |
| GAN | generator $G(\\mathbf{z})$ trained to fool a discriminator $D$ | none: implicit model | yes, one pass | no | conditional GAN |
| VAE | decoder $p_\\theta(\\mathbf{x}\\mid\\mathbf{z})$ with encoder $q_\\phi(\\mathbf{z}\\mid\\mathbf{x})$ | a lower bound (ELBO) | yes, one pass | bound only | conditional VAE |
| Normalizing flow | invertible map to a Gaussian | exact, by change of variables | yes, one pass | yes, exactly | conditional flow |
| Diffusion | learned denoising of a noising chain | a bound (variational) | yes, many steps | bound only | guidance (classifier or classifier-free) |
"""
)

st.markdown("### Pages\n\n" + pages_list(PAGES), unsafe_allow_html=True)  # GenLab's own titles, escaped

st.markdown(
    "### Lessons\n\n"
    "Links for class, in the lecture's order: each opens a page in walkthrough mode at one step, with the "
    "controls that lesson does not need hidden. Hand them out as they are, or open them in the presenter view "
    "(larger type, figures first, no sidebar) on the projector. Any page's link works the same way: add "
    "`walkthrough=true&step=N`, `hide=key1,key2` (the keys are the link's own parameters, `code` hides the code) "
    "or `present=true`.\n\n"
    + lessons_table(lessons_for({p.url_path for p in PAGES}), {p.url_path: p.title for p in PAGES}),
    unsafe_allow_html=True,  # GenLab's own lesson list (escaped), for same-tab links; never user text
)

st.markdown(
    "### Lead a class\n\n"
    "Open a class and hand out its join link (or show its QR code): every student's screen follows yours, page, "
    "view, walkthrough step and settings, within about a second; a student can explore on their own and catch up "
    "in one click. Lesson steps carry questions for the class: ask one, watch the answers come in as a chart, "
    "then reveal the right one. Answers are anonymous and are deleted when the class ends (export them as CSV "
    "first if you want them)."
)
class_ui.home_controls()
