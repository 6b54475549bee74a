"""The compare page's lecture text: its walkthrough steps and explore views."""
from core.lessons import Step, View

INTRO = (
    "The same 2-D points, the same train/test split and the same budget of seconds for each of the four families "
    "of the lecture, each trained by its own GenLab module. Then every model is judged by the same measures on the "
    "same held-out points: what it can do, its test log-likelihood (where it has one), how close its samples come "
    "to the data, and what it costs."
)

STEPS = [
    Step("Generative vs discriminative",
            r"\begin{aligned}&\text{discriminative: } p(y\mid\mathbf x)\\ &\text{generative: } p(\mathbf x)\end{aligned}",
            "A discriminative model only learns to tell classes apart. All four models here are generative: they "
            "learn the distribution of the points themselves, so they can produce new ones. Each panel shows fresh "
            "samples beside held-out data.", "samples"),
    Step("Implicit vs explicit density",
            r"\begin{aligned}&\text{GAN: } \mathbf x=G(\mathbf z),\ \text{no } p(\mathbf x)\\ &\text{flow: } \ln p(\mathbf x)\ \text{exact}"
            r"\\ &\text{VAE, diffusion: } \ln p(\mathbf x)\ \ge\ \text{ELBO}\end{aligned}",
            "A GAN defines its distribution only through sampling: there is no number $p(\\mathbf x)$ to report. "
            "A flow gives the exact log-likelihood by the change of variables. A VAE and a diffusion model give a "
            "lower bound on it, so the table shows an upper bound on their NLL (the `<=`).", "table"),
    Step("Reading a bound beside an exact value",
            r"\begin{aligned}-\ln p_\theta(\mathbf x_0)&\le L_T+\textstyle\sum_{t=2}^{T}L_{t-1}+L_0"
            r"\\ L_T&=\mathrm{KL}\big(q(\mathbf x_T|\mathbf x_0)\,\|\,\mathcal N(\mathbf 0,I)\big)"
            r"\\ L_{t-1}&=\mathrm{KL}\big(q(\mathbf x_{t-1}|\mathbf x_t,\mathbf x_0)\,\|\,p_\theta(\mathbf x_{t-1}|\mathbf x_t)\big)"
            r"\\ L_0&=-\ln p_\theta(\mathbf x_0|\mathbf x_1)\end{aligned}",
            "The diffusion model's bound (Ho et al.), and the VAE's importance-weighted bound, lie *above* the true "
            "NLL. A bound below another model's exact NLL proves the bounded model better; a bound above it proves "
            "nothing. The reading under the table applies exactly this rule.", "table"),
    Step("Measuring samples without a likelihood",
            r"\begin{aligned}\mathrm{MMD}^2&=\mathbb E\,k(\mathbf x,\mathbf x')+\mathbb E\,k(\mathbf y,\mathbf y')-2\,\mathbb E\,k(\mathbf x,\mathbf y)"
            r"\\ \mathrm{SW}_1&=\mathbb E_{\boldsymbol\theta}\,W_1(\boldsymbol\theta^\top\mathbf x,\boldsymbol\theta^\top\mathbf y)\end{aligned}",
            "To put the GAN in the same table, compare samples with held-out points directly: a kernel two-sample "
            "distance (MMD), the mean 1-D transport distance over random directions (sliced Wasserstein), and "
            "precision (samples on the data: quality) against recall (data covered by samples: diversity). "
            "Real training points give the floor these numbers can reach on a finite test set.", "table"),
    Step("What each family trades",
            r"\begin{aligned}&\text{quality}\leftrightarrow\text{diversity}\\ &\text{sampling speed}\leftrightarrow\text{likelihood}\end{aligned}",
            "GANs sample in one pass and tend to sharp samples but may drop modes; VAEs are fast and stable but "
            "blur; flows give exact likelihoods at the price of invertible, slower-to-train layers; diffusion "
            "models cover the data well but need many network passes per sample. The curves show how far each got "
            "in the same seconds.", "curves"),
]

# The compare page's explore mode: two views. Every number comes from one result loaded (or trained) above the sections, so views save
# no computing here; they save drawing: the training curves are two of the page's three charts (5 of its 10 plot
# panels) and a separate idea, so the page opens on the samples and the table, the comparison itself.
VIEWS = [View("Samples and table", ("samples", "table"), keys=("kde",)),
         View("Training curves", ("curves",))]
