"""Home: the lecture's map and the way into every page that exists."""
import streamlit as st

from core import ui
from core.app_pages import PAGES
from core.lessons import lessons_for

ui.require_router()


st.title("GenLab")
st.markdown("#### See generative models work: trained here, live, in your browser.")
st.markdown(
    "GenLab follows the lecture *Generative Models: discriminative vs generative*. Each page trains a model "
    "in front of you (or opens a checkpoint trained by GenLab's own code), lets you change what matters, and "
    "shows the lecture's equations next to the figures they explain. Turn on **Walkthrough** in the sidebar "
    "to go through a page one idea at a time; copy the link in the sidebar to share exactly what you see."
)

st.subheader("Discriminative or generative?")
left, right = st.columns(2)
left.markdown(
    "**Discriminative models** learn $P(Y \\mid \\mathbf{X})$ (or the label directly): enough to classify, "
    "but nothing to say about the inputs themselves. *Logistic regression* is the archetype."
)
right.markdown(
    "**Generative models** learn $P(Y, \\mathbf{X})$ or just $P(\\mathbf{X})$: they model the whole data "
    "distribution, so they can also *make new data*. *Naive Bayes* is the archetype; GANs, VAEs, flows and "
    "diffusion models do it for images."
)

st.subheader("The families of the lecture")
st.markdown(
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

st.subheader("Pages")
for p in PAGES:
    with st.container(border=True):
        st.page_link(p.path, label=p.title, icon=p.icon)
        st.caption(p.blurb)
st.subheader("Lessons")
st.markdown(
    "Links for class, in the lecture's order: each opens a page in walkthrough mode at one step, with the "
    "controls that lesson does not need hidden. Hand them out as they are, or open them in the presenter view "
    "(larger type, figures first, no sidebar) on the projector. Any page's link works the same way: add "
    "`walkthrough=true&step=N`, `hide=key1,key2` (the keys are the link's own parameters, `code` hides the code) "
    "or `present=true`."
)
by_path = {p.url_path: p for p in PAGES}
for lesson in lessons_for(set(by_path)):
    spec = by_path[lesson.page]
    with st.container(border=True):
        a, b = st.columns([5, 1], vertical_alignment="center")
        a.page_link(spec.path, label=f"{spec.title}, step {lesson.step}: {lesson.title}", icon=spec.icon,
                    query_params=lesson.query())
        a.caption(lesson.about)
        b.page_link(spec.path, label="Presenter view", icon=":material/co_present:", query_params=lesson.query(True))

LECTURE = {"gan": "GANs", "vae": "VAEs", "flow": "normalizing flows", "diffusion": "diffusion", "text_to_image": "text to image"}
missing = [name for fam, name in LECTURE.items() if fam not in {p.family for p in PAGES}]
if missing:
    st.caption(f"Still to come, in the lecture's order: {', '.join(missing)}.")
