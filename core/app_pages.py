"""The pages GenLab has built, in lecture order: pure data, no Streamlit.

``streamlit_app.py`` builds ``st.navigation`` from this list, the home page links to it
and the browser tests open every entry, so a page that is not listed here does not exist.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str        # script path relative to the repository root
    title: str       # navigation title
    icon: str        # a :material/...: icon (no emoji font is installed)
    url_path: str    # the page's address, /<url_path>
    family: str      # lecture section it belongs to
    blurb: str       # one line for the home page


HOME = PageSpec("pages/home.py", "Home", ":material/home:", "", "home", "The map of the lecture.")

PAGES: list[PageSpec] = [
    PageSpec("pages/bayes.py", "Discriminative vs generative", ":material/compare_arrows:", "bayes", "bayes",
             "Gaussian naive Bayes and logistic regression: the generative-discriminative pair."),
    PageSpec("pages/gan.py", "Generative adversarial networks", ":material/sports_kabaddi:", "gan", "gan",
             "Train a GAN live: the two players, D(x) over the plane, the JS divergence, mode collapse, conditional GANs."),
    PageSpec("pages/vae.py", "Variational autoencoders", ":material/blur_on:", "vae", "vae",
             "Latent maps, the ELBO and its two terms, the reparameterization trick, and the autoencoders behind them."),
    PageSpec("pages/flow.py", "Normalizing flows", ":material/waves:", "flow", "flow",
             "Affine coupling layers, the exact likelihood, layer-by-layer warps and anomaly scores."),
    PageSpec("pages/diffusion.py", "Diffusion models", ":material/grain:", "diffusion", "diffusion",
             "Noise in, digits out: the forward and reverse processes, noise prediction, DDPM vs DDIM, latent diffusion."),
    PageSpec("pages/guided.py", "Guided diffusion", ":material/tune:", "guided", "guided",
             "Ask for a digit: classifier guidance, classifier-free guidance, and the guidance scale's "
             "fidelity/diversity trade-off, measured."),
    PageSpec("pages/text_to_image.py", "Text to image", ":material/image:", "text_to_image", "text_to_image",
             "Stable Diffusion's parts, small and trained here: prompts, guidance, schedulers, and real SD where present."),
    PageSpec("pages/compare.py", "Compare the families", ":material/leaderboard:", "compare", "compare",
             "GAN, VAE, flow and diffusion on the same points for the same seconds: samples, likelihoods, sample "
             "distances and costs, measured side by side."),
]
