"""The diffusion page's walkthrough (the lecture's steps), its explore views and its labels: pure data."""
from core.data import TOY_SETS
from core.lessons import Step, View

STEPS = [
    Step("The forward Markov chain and its variance schedule",
         r"\begin{aligned}q(\mathbf x_{1:T}|\mathbf x_0)&=\prod_{t=1}^T q(\mathbf x_t|\mathbf x_{t-1})\\ q(\mathbf x_t|\mathbf x_{t-1})&=\mathcal N\big(\mathbf x_t;\sqrt{1-\beta_t}\,\mathbf x_{t-1},\ \beta_t I\big)\end{aligned}",
         "Each step shrinks the image a little and adds noise of variance $\\beta_t$. The schedule "
         "$\\beta_1<\\dots<\\beta_T$ is fixed, not learned: linear from $10^{-4}$ to $0.02$ (Ho et al.) or cosine "
         "(Nichol & Dhariwal), which destroys information more evenly. After $T=1000$ steps $\\bar\\alpha_T\\approx 0$: "
         "nothing of $\\mathbf x_0$ is left, the chain ends in an isotropic Gaussian.", "schedule"),
    Step("Reparametrization: jump straight from x_0 to x_t",
         r"\begin{aligned}\mathbf x_t&=\sqrt{\bar\alpha_t}\,\mathbf x_0+\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon\\ q(\mathbf x_t|\mathbf x_0)&=\mathcal N\big(\mathbf x_t;\sqrt{\bar\alpha_t}\,\mathbf x_0,(1-\bar\alpha_t)I\big)\\ \alpha_t&=1-\beta_t,\quad \bar\alpha_t=\textstyle\prod_{s=1}^t\alpha_s\end{aligned}",
         "Gaussians added to Gaussians stay Gaussian, so $t$ steps collapse into one: no need to run the chain. "
         "Move $t$: the cloud drawn with the closed form (blue) and the one from running the chain step by step "
         "(orange) agree in distribution, and the means and variances below match the formula.", "forward"),
    Step("The reverse process and the ELBO",
         r"\begin{aligned}p_\theta(\mathbf x_{0:T})&=p(\mathbf x_T)\prod_{t=1}^T p_\theta(\mathbf x_{t-1}|\mathbf x_t)\\ p_\theta(\mathbf x_{t-1}|\mathbf x_t)&=\mathcal N\big(\boldsymbol\mu_\theta(\mathbf x_t,t),\boldsymbol\Sigma_\theta(\mathbf x_t,t)\big)\\ \mathcal L&=\textstyle\sum_t D_{KL}\big(q(\mathbf x_{t-1}|\mathbf x_t,\mathbf x_0)\,\|\,p_\theta(\mathbf x_{t-1}|\mathbf x_t)\big)\end{aligned}",
         "With small steps the reverse of each noising step is Gaussian too, so a network only has to give its mean. "
         "Maximising the ELBO, as in a VAE whose encoder is the fixed noising chain, becomes a sum of KL "
         "divergences between Gaussians, one per step, each in closed form. Press play: points travel from noise "
         "onto the data.", "trajectories"),
    Step("Noise prediction (Algorithm 1)",
         r"\begin{aligned}&\mathbf x_0\sim q(\mathbf x_0),\ t\sim\mathcal U\{1..T\},\ \boldsymbol\epsilon\sim\mathcal N(\mathbf 0,I)\\ &\nabla_\theta\big\|\boldsymbol\epsilon-\boldsymbol\epsilon_\theta\big(\sqrt{\bar\alpha_t}\mathbf x_0+\sqrt{1-\bar\alpha_t}\boldsymbol\epsilon,\ t\big)\big\|^2\end{aligned}",
         "The KL terms reduce to a plain regression: show the network a noised example and the time $t$ "
         "(as a sinusoidal embedding, since one set of weights serves every $t$), and ask for the noise. Train a "
         "2-D model live and watch the loss and the distance of its samples to held-out data fall.", "train2d"),
    Step("Sampling (Algorithm 2)",
         r"\begin{aligned}&\mathbf x_T\sim\mathcal N(\mathbf 0,I);\ \text{for } t=T..1:\ \mathbf z\sim\mathcal N(\mathbf 0,I)\ (t>1)\\ &\mathbf x_{t-1}=\tfrac{1}{\sqrt{\alpha_t}}\Big(\mathbf x_t-\tfrac{1-\alpha_t}{\sqrt{1-\bar\alpha_t}}\boldsymbol\epsilon_\theta(\mathbf x_t,t)\Big)+\sigma_t\mathbf z\end{aligned}",
         "Each step removes a bit of the predicted noise and adds back fresh noise $\\sigma_t\\mathbf z$. Step through "
         "a batch of digits: the left panel is $\\mathbf x_t$, the middle the noise the U-Net predicts, the right the "
         "clean image that prediction implies. Go back to any step and continue with another sampler.", "reverse"),
    Step("A chain of denoising autoencoders",
         r"\hat{\mathbf x}_0=\frac{\mathbf x_t-\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon_\theta(\mathbf x_t,t)}{\sqrt{\bar\alpha_t}}",
         "Predicting the noise is predicting the clean image: solve the closed form for $\\mathbf x_0$. So the network "
         "is a denoising autoencoder, one for every noise level, with no bottleneck (its output has the input's "
         "size). Lightly noised digits come back sharp; heavily noised ones come back as a blurry average of "
         "digits that could have been there.", "denoise"),
    Step("DDIM: fewer, deterministic steps",
         r"\mathbf x_{t'}=\sqrt{\bar\alpha_{t'}}\,\hat{\mathbf x}_0+\sqrt{1-\bar\alpha_{t'}}\,\boldsymbol\epsilon_\theta(\mathbf x_t,t),\quad t'<t",
         "The same trained network, a different sampler: DDIM jumps from $t$ to a much earlier $t'$ along the "
         "closed form, with no fresh noise, so one starting noise always gives the same sample. Both samplers start "
         "from the same $\\mathbf x_T$ here; the table measures quality against steps against seconds. Few steps "
         "cost quality with either; which one wins depends on the model, so it is measured, not assumed.", "samplers"),
    Step("Latent diffusion",
         r"\mathbf z_0=\mathcal E(\mathbf x_0),\quad \mathbf z_t=\sqrt{\bar\alpha_t}\,\mathbf z_0+\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon,\quad \hat{\mathbf x}_0=\mathcal D(\hat{\mathbf z}_0)",
         "Add the noise to an autoencoder's compressed code instead of the pixels: the denoiser works on 64 "
         "numbers instead of 256, and the decoder turns the final code into an image once. Same algorithm, "
         "same schedule, a large speed-up: how Stable Diffusion makes 512x512 images affordable.", "latent"),
]

# the page is explored one view at a time; each view lists the URL keys of the widgets only it draws
VIEWS = [View("Forward process", ("schedule", "forward"), keys=("t",)),
         View("2-D model", ("trajectories", "train2d"), keys=("s2", "k2")),
         View("Denoising digits", ("reverse", "denoise"), keys=("sampler", "steps", "n", "k", "sampler2", "steps2")),
         View("DDPM vs DDIM", ("samplers",), keys=("cloud", "dig")),
         View("Latent diffusion", ("latent",), keys=("lsteps",))]

SAMPLER_LABELS = {"ddim": "DDIM", "ddpm": "DDPM"}
DATA_LABELS = {k: TOY_SETS[k][1] for k in ("swiss_roll", "moons", "ring8", "checkerboard", "spirals",
                                                         "circles", "grid25")}
SHIPPED_2D = {"swiss_roll": "diffusion_swiss_roll", "moons": "diffusion_moons"}
PIXEL, LATENT = "diffusion_mnist16_pixel", "diffusion_mnist16_latent"

# ---- the page's prose: its introduction and the notes under its figures ({names} are filled in by the page)
INTRO = (
    "Destroy data by adding a little Gaussian noise a thousand times, then train one network to undo a single "
    "step: predict the noise $\\boldsymbol\\epsilon$ that was added to $\\mathbf x_t$. Sampling starts from pure "
    "noise $\\mathbf x_T\\sim\\mathcal N(\\mathbf 0, I)$ and runs the learned denoiser backwards, $T$ small steps "
    "(DDPM) or a few big deterministic ones (DDIM). Everything below is computed live; the digit models ship "
    "trained, the 2-D models train here in seconds."
)
SHIP_FAILED = ("The shipped 2-D model for the {data} could not be loaded: {error} Click **Train live** to train one "
               "here (a few seconds).")
NO_MODEL = ("No 2-D model for these settings yet ({data}, {kind} schedule, {steps:,} steps, learning rate {lr:g}): "
            "click **Train live** (a few seconds). Shipped: swiss roll and two moons with the linear schedule, 2,000 "
            "steps, learning rate 0.003.")
MODEL = ("2-D model: {data}, {kind} schedule, {steps:,} steps ({source}); held-out loss {loss:.3f}, sliced "
         "Wasserstein of its samples to held-out data {swd:.3f}.")
TRAINED = ("Trained {steps:,} steps in {seconds:.1f} s: held-out loss {loss:.3f}, sliced Wasserstein to held-out data "
           "{swd:.3f}")
DIGITS_FAILED = ("The shipped digit models could not be loaded: {error} Train them with the command in "
                 "`core/diffusion.py` (they take too long to train on this page).")
SCHEDULE_NOTE = ("At t = {t}: beta_t = {beta:.5f}, alpha_bar_t = {alpha_bar:.4f}, SNR = {snr:.4g}. The cosine schedule "
                 "keeps more signal in the middle of the chain; both end with alpha_bar_T below {end:.0e}.")
FORWARD_NOTE = ("Mean of x_t, and variance of its noise part x_t - sqrt(alpha_bar_t) x_0, over {draws:,} draws "
                "({points} held-out points, 20 draws each; the plot shows one draw each). The formula: mean "
                "sqrt(alpha_bar_t) E[x_0], noise variance 1 - alpha_bar_t.")
TRAIN2D_NOTE = ("The loss stays well above 0: near t = 0 the added noise is tiny and hard to tell from the data's own "
                "spread. What matters is the samples: the sliced Wasserstein distance to held-out points (for "
                "reference, two independent draws of 800 points from the same set are about 0.05 apart).")
DENOISE_NOTE = ("Top row: the clean digits x_0; the rows below: t = {levels}. Each estimate is one network call "
                "(X0 with the predicted noise), no sampling chain: up to t = 300 the digit comes back; beyond, the "
                "estimate is the blurry average of the digits that could be hiding under the noise, and the sampler "
                "needs many small steps to commit to one.")
LATENT_NOTE = ("16 digits, {steps} DDIM steps each, same seed, measured just now (one thread, first run; a speed-up of "
               "{speedup:.1f}x). The latent model's codes come from a small AutoencoderKL ({ae:,} parameters) trained "
               "on the same digits; its decoder runs once at the end. Parameters of the denoisers: pixel {pixel:,}, "
               "latent {latent:,}.")
