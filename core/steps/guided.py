"""The guided-diffusion page's walkthrough (the lecture's steps), its explore views, labels and notes: pure data."""
from core.lessons import Step, View

INTRO = (
    "A diffusion model that knows what it should draw: ask for a digit and steer the sampler towards it. Two ways "
    "from the lecture, both live here on 16x16 digits: **classifier guidance** (a separate classifier trained on "
    "noisy images pushes every step towards the class) and **classifier-free guidance** (one network trained with "
    "and without the label; extrapolate from the unconditional prediction towards the conditional one). The "
    "guidance scale $s$ buys fidelity with diversity, and an independent digit classifier measures both."
)

STEPS = [
    Step("Why condition?",
         r"p(\mathbf x)\ \longrightarrow\ p(\mathbf x\,|\,y)",
         "An unconditional model draws whatever digit the noise leads to. To ask for a *7* the model must see the "
         "label, or be steered towards it while sampling. Pick a digit and a guidance kind: the grid shows 16 "
         "samples from the same 16 starting noises; at scale 0 both guidance kinds are the plain unconditional "
         "model.", "samples"),
    Step("Conditional GANs did it first",
         r"\min_G\max_D\ \mathbb E\big[\log D(\mathbf x|y)\big]+\mathbb E\big[\log\big(1-D(G(\mathbf z|y)\,|\,y)\big)\big]",
         "A conditional GAN feeds the label to both players: the generator must draw a *7* that the discriminator, "
         "also told *7*, cannot tell from real sevens. The label is an extra input, nothing more. Diffusion models "
         "can do the same, and add a knob the GAN does not have: how hard to push.", "cgan"),
    Step("Classifier guidance",
         r"\begin{aligned}\nabla\log p(\mathbf x_t|y)&=\nabla\log p(\mathbf x_t)+\nabla\log p_\phi(y|\mathbf x_t)\\ \mathbf x_{t-1}&\sim\mathcal N\big(\boldsymbol\mu_\theta+s\,\boldsymbol\Sigma_t\,\nabla\log p_\phi(y|\mathbf x_t,t),\ \boldsymbol\Sigma_t\big)\end{aligned}",
         "Bayes' rule for scores: the conditional score is the unconditional one plus the gradient of a classifier. "
         "The classifier must work on *noisy* images, so it is trained on x_t at every t. Each reverse step of the "
         "unconditional model is nudged along that gradient, scaled by s. Below: the gradient for each digit, the "
         "pixels the classifier wants brighter (blue) or darker (red).", "classifier"),
    Step("Classifier-free guidance",
         r"\begin{aligned}\hat{\boldsymbol\epsilon}(\mathbf x_t|y)=\ &\boldsymbol\epsilon_\theta(\mathbf x_t|\varnothing)\\ &+s\,\big(\boldsymbol\epsilon_\theta(\mathbf x_t|y)-\boldsymbol\epsilon_\theta(\mathbf x_t|\varnothing)\big)\end{aligned}",
         "No classifier: train one network with the label, and replace the label by a null token 10 % of the time, "
         "so it also learns the unconditional prediction. At sampling, run both and extrapolate: s = 0 is "
         "unconditional, s = 1 conditional, s > 1 exaggerates what the label changes. The difference of the two "
         "predictions plays the role of the classifier's gradient.", "cfg"),
    Step("The guidance scale: fidelity against diversity",
         r"p_s(y|\mathbf x)\propto p(y|\mathbf x)^s=\mathrm{softmax}\big(s\log p(y|\mathbf x)\big)",
         "Raising s sharpens the class distribution, as lowering the temperature of a softmax sharpens a language "
         "model's next-word distribution: samples look more like the typical digit and less like each other. "
         "The curve measures it with an evaluator that is not part of any model.", "curve"),
]

# explore mode: one view at a time; the samples open the page, the scale rows and the measured curve wait for theirs
VIEWS = [View("Samples", ("samples", "cgan")),
         View("Classifier guidance", ("classifier",), keys=("tclf",)),
         View("Classifier-free guidance", ("cfg",), keys=("tcfg",)),
         View("Guidance scale", ("curve",), keys=("per", "csteps"))]

GUIDANCE_LABELS = {"cfg": "Classifier-free", "classifier": "Classifier", "none": "None"}
SAMPLER_LABELS = {"ddim": "DDIM", "ddpm": "DDPM"}
ROW_SCALES = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)

# ---- the page's prose ({names} are filled in by the page)
FAILED = ("The shipped guided-diffusion checkpoints could not be loaded: {error} Train them with the commands in "
          "`core/guided.py` (they take too long to train on this page).")
CGAN = ("A conditional GAN gives the label to the generator *and* the discriminator; the GAN page trains one live on "
        "the ring of Gaussians (one label per mode) and ships one on digits. Diffusion conditions the noise predictor "
        "the same way (the label's embedding is added to the time embedding of every block of the U-Net here), and "
        "guidance adds the scale.")
CLASSIFIER_NOTE = ("The classifier's belief p_φ(y | x_t, t): {beliefs}. Held-out accuracy of the classifier at t = 1 / "
                   "250 / 500 / 750 / 1000: {accuracies}. At large t nothing of the digit is left and it can only guess: "
                   "its gradient then steers towards the class as a whole rather than to this image.")
CLASSIFIER_DDIM = ("DDPM steps shift the mean by s Σ_t ∇ log p_φ (the lecture's formula); DDIM has no noise to shift, "
                   "so the same gradient enters as ε̂ = ε(x_t) − s √(1 − ᾱ_t) ∇ log p_φ (Dhariwal & Nichol).")
CFG_NOTE = ("Four real {digit}s noised to t = {t}. The difference column is all that the label adds; the scale "
            "multiplies it. It is small next to the noise itself (a noise prediction is mostly the noise), which is "
            "why scales well above 1 are needed to change the samples markedly.")
NO_TABLE = ("No table yet for {per_class} samples per digit, {steps} {sampler} steps, seed {seed}.{have} Measuring takes "
            "{runs} sampling runs of {digits} digits{estimate} (the server stops any run at {cap:.0f} s).")
HAVE_TABLE = " The shipped table covers {per_class} samples per digit, {steps} {sampler} steps, seed {seed}."
CURVE_NOTE = ("Source: {source}. Each point: {n:,} samples ({per_digit} per digit, the same starting noises for every "
              "point), {steps} {sampler} steps. Fidelity: share the evaluator (a CNN trained on clean real digits only, "
              "{acc:.1%} held-out accuracy) classifies as the requested digit; dotted: its mean probability for that "
              "digit. Diversity: mean distance between samples of one digit in the evaluator's feature space, divided "
              "by the same for real held-out digits. At s = 0 both kinds are the same unconditional sampler (the "
              "requested digit is then hit by chance, about 10 %); its diversity is above that of real digits because "
              "some unconditional samples are malformed, and malformed shapes scatter widely in the evaluator's "
              "feature space.")
TEMPERATURE = ("**The softmax-temperature analogy.** Guidance with scale s samples, in effect, from p(y | x)^s: the "
               "class distribution raised to a power, just as dividing a language model's logits by a temperature "
               "T = 1/s sharpens its next-word distribution (s > 1) or flattens it (s < 1).")
TEMPERATURE_NOTE = ("An example p(y | x) over five digits: at s = 0 (infinite temperature) every class is equally "
                    "likely, at s = 1 it is unchanged, at s = 8 nearly all the mass sits on the most likely digit.")
