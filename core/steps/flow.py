"""The flow page's lecture text: its walkthrough steps, explore views, labels and the longer captions."""
from core.lessons import Step, View

INTRO = (
    "A **normalizing flow** carries a simple base density $p_0(\\mathbf z)$, usually the standard normal, into the "
    "data distribution through a chain "
    "of invertible maps $\\mathbf x = f_K(\\dots f_1(\\mathbf z_0))$. Because every map can be undone and its "
    "Jacobian determinant is cheap, the flow gives the **exact** likelihood $\\ln p(\\mathbf x)$ of any point: it "
    "trains by plain maximum likelihood, samples by running the chain forwards, and scores anomalies by density."
)

STEPS = [
    Step("The change of variables",
         r"p_x(\mathbf x)=p_0(\mathbf z)\left|\det\frac{\partial f^{-1}}{\partial \mathbf x}\right|"
         r"=p_0(\mathbf z)\left|\det\frac{\partial f}{\partial \mathbf z}\right|^{-1},\qquad \mathbf x=f(\mathbf z)",
         "Push a density through an invertible map and it must still integrate to one: where the map stretches "
         "space by a factor $|\\det J|$ the density thins by the same factor. The heatmap is exactly this, computed "
         "at every pixel: the base density of the point's pre-image times the local volume change.", "density"),
    Step("A chain of maps: the log-likelihood is a sum over layers",
         r"\ln p_K(\mathbf z_K)=\ln p_0(\mathbf z_0)-\sum_{k=1}^{K}\ln\left|\det\frac{\partial f_k}{\partial \mathbf z_{k-1}}\right|",
         "Apply the rule once per layer and the logarithms add up. Slide through the layers: each bar is one "
         "layer's $\\ln|\\det J|$, averaged over the points. Positive bars stretch space (the density thins), "
         "negative bars squeeze it (the density concentrates).", "layers"),
    Step("Invertible networks: the affine coupling layer",
         r"\mathbf z_{k,a}=\mathbf z_{k-1,a},\quad \mathbf z_{k,b}=\big(\mathbf z_{k-1,b}-t(\mathbf z_{k-1,a})\big)\odot e^{-s(\mathbf z_{k-1,a})},"
         r"\quad \ln\left|\det\frac{\partial f_k}{\partial\mathbf z_{k-1}}\right|=-\textstyle\sum_b s_b",
         "An ordinary network is not invertible. A coupling layer keeps half of the coordinates and moves the "
         "other half by a shift and a scale that a small network computes from the kept half. Undoing it needs "
         "the same network, never its inverse, and the Jacobian is triangular, so its determinant is the product "
         "of the scales. The next layer swaps the halves. (Set *Coupling* to spline and the moved half goes through a "
         "monotone spline instead: the Jacobian is just as triangular, its diagonal the spline's slopes.)", "layers"),
    Step("Sampling by the inverse",
         r"\mathbf z_0\sim\mathcal N(\mathbf 0,I),\qquad \mathbf x=f_K\circ\dots\circ f_1(\mathbf z_0)",
         "To generate, draw from the base and run the layers forwards: the normal cloud and its grid are bent, "
         "layer by layer, into the data. To evaluate a likelihood, run the other way: the data are carried back "
         "to a round Gaussian (switch the direction).", "layers"),
    Step("Why the bridges? A flow cannot tear space",
         r"p_0(\mathbf z)=\sum_{j=1}^{m}\pi_j\,\mathcal N(\mathbf z;\boldsymbol\mu_j,\operatorname{diag}\boldsymbol\sigma_j^2)",
         "Every layer is continuous and invertible, so the whole flow is too: it can stretch and squeeze the base "
         "but never cut it. From one connected Gaussian it cannot make eight separate blobs without leaving some "
         "mass on the way between them, the thin bridges you see on the ring of 8 with the standard normal base. "
         "Training narrows them only slowly. A learned mixture base with one component per cluster leaves the "
         "layers only the shapes to bend, and the likelihood is still exact: the change of variables holds for "
         "any base density. Set *Base p0* under the training settings and train live to compare.", "density"),
    Step("Training by maximum likelihood",
         r"\theta^*=\arg\max_\theta\sum_{i=1}^{n}\ln p_K(\mathbf x_i;\theta)"
         r"=\arg\min_\theta\ -\frac1n\sum_{i=1}^{n}\Big[\ln p_0(f_\theta^{-1}(\mathbf x_i))+\ln\left|\det\frac{\partial f_\theta^{-1}}{\partial\mathbf x_i}\right|\Big]",
         "The loss is the negative log-likelihood itself, in nats per point, computed exactly on every minibatch: "
         "no discriminator, no bound, no noise schedule. The test curve is the same number on held-out points.",
         "training"),
    Step("Exact likelihood vs the bounds of VAE and diffusion",
         r"\text{flow: } \ln p_\theta(\mathbf x)\ \text{exact};\qquad \text{VAE, diffusion: } \ln p_\theta(\mathbf x)\ \ge\ \mathrm{ELBO}",
         "Because the flow's number is exact it can be compared with other density estimators on the same "
         "points: here kernel density estimation and a Gaussian mixture. A VAE or a diffusion model reports only "
         "a lower bound on $\\ln p$, a GAN nothing at all.", "training"),
    Step("Anomaly detection by density",
         r"\text{flag }\mathbf x\ \text{ if }\ \ln p_\theta(\mathbf x)<\tau,\qquad \tau=\text{the }q\text{-quantile of }\{\ln p_\theta(\mathbf x_i)\}_{\text{train}}",
         "An exact density is a ready-made anomaly score: points in regions the data never visit get a low "
         "$\\ln p$. The threshold flags the given share of the training points; type a point to see its score.",
         "anomaly"),
]

# the page is explored one view at a time; each view lists the URL keys of the widgets only it draws
VIEWS = [View("Density and samples", ("density",), keys=("ns", "logp")),
         View("Layer by layer", ("layers",), keys=("dir", "k")),
         View("Training and exact NLL", ("training",)),
         View("Anomaly detection", ("anomaly",), keys=("q", "out", "px", "py"))]

SETS = {"moons": "Two moons", "ring8": "Ring of 8 Gaussians", "checkerboard": "Checkerboard",
        "spirals": "Two spirals", "circles": "Concentric circles", "mine": "My points (click or CSV)"}

NOTE_LIVE = ("Trained live on this server (by you or anyone who asked for the same settings; training is "
             "deterministic): {layers} layers, seed {seed}.")
NOTE_SHIPPED = "Shipped checkpoint, trained by `{command}`."
NOTE_SHIPPED_OTHER = "Showing the shipped flow (its own settings, seed 0) until you click **Train live** for yours."
NOT_TRAINED = "Not trained yet: click **Train live**."
NO_FLOW = "No flow for these points yet: click **Train live** (under a minute with the default settings on 2 CPU cores)."
SHIP_ERROR = "The shipped flow for this data set could not be loaded: {error}  Click **Train live** to train one."
POINTS_INTRO = "**Your points**: click the plane to add points (each click one point), or upload a CSV of `x,y` rows."
POINTS_CAPTION = ("{n} points. A flow needs at least {min_rows}; a third are held out for the test NLL. "
                  "Scales are learned (ActNorm), so any units work.")

HELP = {
    "width": "Width of the two hidden layers of each coupling layer's network (it outputs the "
             "scale and shift, or the spline's bins and slopes).",
    "base": "A flow is a continuous bijection: from one connected Gaussian it cannot tear the "
            "space into separate clusters, so it leaves thin bridges between them. A learned "
            "mixture with one component per cluster removes them; the likelihood stays exact.",
    "train": "Train a flow with these settings and seed on these points.",
    "logp": "The logarithm shows the tails; p itself shows where the mass is.",
    "mass": "The density integrated over the plotted box (midpoint rule on a 400 x 400 grid).",
    "dir": "Sampling runs f_1 ... f_K on normal draws; the likelihood runs the inverses on data.",
    "out": "Random points over the whole picture mixed into the test points, circled in yellow.",
}

# ---- the views' longer texts (``{...}``: filled in by the page with str.format)
MASS_CAPTION = ("*Probability mass in the picture* ({total:.3f}) is the numerical integral of the learned density "
                "over the plotted box: about 1 means the density is normalised, as the change of variables promises, "
                "and almost all of its mass lies where the data are (the last digits are the grid's rounding).")
MIXTURE_CAPTION = ("This flow starts from a learned mixture of {k} Gaussians, not from "
                   "N(0, I): a flow cannot tear one Gaussian into separate clusters without leaving bridges "
                   "between them. Set *Base p0* to standard normal and click **Train live** to see them.")
LOGDET_SUM = "Sum over the first **{k}** layer{s}: **{total:+.3f}** nats on average. "
LOGDET_TO_DATA = ("Over all K layers this is $\\sum_k \\ln|\\det \\partial f_k/\\partial z_{k-1}|$, which the "
                  "log-likelihood of a sample *subtracts* from $\\ln p_0(z_0)$.")
LOGDET_TO_BASE = ("Over all K layers this is $\\ln|\\det \\partial f^{-1}/\\partial x|$, which the log-likelihood "
                  "*adds* to $\\ln p_0(z_0)$.")
REFS_CAPTION = ("Same {n:,} held-out points; KDE's bandwidth by cross-validation, the mixture's size by BIC "
                "(scikit-learn). {steps:,} steps, {seconds:.1f} s of training.")
EXACT_INFO = ("A flow's NLL is **exact**, so it can stand beside KDE and a Gaussian mixture on the same points. "
              "A VAE or a diffusion model reports only a **bound** (the ELBO: $\\ln p(\\mathbf x)\\ge$ ELBO), and a GAN "
              "has no likelihood at all.")
FLAGGED = ("Flagged: **{flagged}** of {n_test:,} test points ({share:.1%}, close to the {q:g}% asked for on the "
           "training points)")
CAUGHT = (" and **{caught}** of the {n_out} injected outliers ({rate:.0%}; outliers that land on the "
          "data itself cannot be told apart).")
