"""The GAN page's lecture text: its walkthrough steps, explore views, the labels of its controls and its longer
captions. Pure data (no Streamlit, no torch): pages/gan.py draws them."""
from core.lessons import Step, View

INTRO = (
    "Two networks play a zero-sum game. The **generator** $G$ turns noise $\\mathbf z$ into fake samples; the "
    "**discriminator** $D$ tries to tell them from real data. $G$ is never shown a real sample: it learns only "
    "through $D$'s judgement. Train the game below, step one player at a time, scrub back through training, "
    "and watch it converge, stall or collapse onto a few modes. A GAN is an *implicit* model: it can sample, "
    "but it has **no likelihood** $p(\\mathbf x)$ to report."
)

STEPS = [
    Step("Two networks, one zero-sum game",
         r"\begin{aligned}G&:\ \mathbf z\mapsto\mathbf x=G(\mathbf z),\quad \mathbf z\sim p_z\\ "
         r"D&:\ \mathbf x\mapsto D(\mathbf x)\in(0,1)\ \ \text{(probability that }\mathbf x\text{ is real)}\end{aligned}",
         "The map above is the whole GAN: noise goes through $G$ into samples, real and fake samples go through "
         "$D$ into predictions, and the predictions give the two losses. Gradients flow back along the coloured "
         "paths: $D$'s loss updates $D$; $G$'s loss flows back *through* $D$ into $G$.", "overview"),
    Step("The common loss",
         r"L=\mathbb E_{\mathbf x\sim p_r}\big[\ln D(\mathbf x)\big]+\mathbb E_{\mathbf x\sim p_g}\big[\ln(1-D(\mathbf x))\big]",
         "One number, two opposite goals: $D$ makes $L$ large (high $D$ on real points, low on fakes), $G$ makes "
         "it small by moving its samples where $D$ says *real*. The loss bars in the map are $-L$ for $D$ and "
         "$G$'s own loss (below).", "overview"),
    Step("What D maximizes, what G minimizes",
         r"\max_D\ L\qquad \min_G\ \mathbb E_{\mathbf z}\big[\ln(1-D(G(\mathbf z)))\big]",
         "The heatmap is $D(\\mathbf x)$ over the plane (green: *real*, orange: *fake*). Each arrow is "
         "$-\\partial L_G/\\partial\\mathbf x$ at a generated point: where $G$'s gradient pushes it, uphill on "
         "$D$. $D$ learns where the fakes are; $G$ moves them to where $D$ is fooled. Use **Step D** and "
         "**Step G** to move one player at a time.", "plane"),
    Step("The optimal D and the Jensen-Shannon divergence",
         r"\begin{aligned}D^*(\mathbf x)&=\frac{p_r(\mathbf x)}{p_r(\mathbf x)+p_g(\mathbf x)}\\ "
         r"L(D^*,G)&=-\ln 4+2\,D_{JS}(p_r\|p_g)\\ D_{JS}(p\|q)&=\tfrac12 D_{KL}\big(p\|\tfrac{p+q}2\big)+\tfrac12 D_{KL}\big(q\|\tfrac{p+q}2\big)\end{aligned}",
         "For a fixed $G$ the best $D$ is the share of real density at each point. Plugged in, the loss becomes "
         "the Jensen-Shannon divergence between data and generator, up to constants: so $(L+\\ln 4)/2$ estimates "
         "the JSD (a lower bound while $D$ is not optimal). The dashed curve checks it against a plain "
         "histogram estimate of the same divergence.", "curves"),
    Step("At the optimum: p_g = p_r and D = 1/2",
         r"p_g=p_r\ \Rightarrow\ D^*(\mathbf x)=\tfrac12,\qquad L=-\ln 4,\qquad D_{JS}=0",
         "When $G$ reproduces the data, $D$ can do no better than a coin flip: mean $D$(real) and $D$(fake) both "
         "approach 0.5, the heatmap fades to white, and both JS estimates fall towards 0 (at most $\\ln 2$ when "
         "the two distributions do not overlap at all).", "curves"),
    Step("Unstable training: saturation and mode collapse",
         r"\nabla_{\mathbf x}\ln\big(1-D(\mathbf x)\big)\to 0\ \text{ as } D(\mathbf x)\to 0"
         r"\qquad\text{vs}\qquad \min_G\ -\mathbb E_{\mathbf z}\big[\ln D(G(\mathbf z))\big]",
         "GAN training is a game, not a minimisation, and it can fail. With the lecture's loss a confident $D$ "
         "leaves $G$ almost no gradient (try *saturating*: the arrows vanish); the non-saturating loss has the "
         "same fixed point but strong gradients. And $G$ can collapse onto a few modes that currently fool $D$ "
         "(try *mode collapse*: the coverage bars go grey). The second row of presets puts the same strong $D$ on "
         "PacGAN's ring and adds a remedy ($D$ judging packs of 2 or 4 samples, or their spread) and draws the "
         "samples with a moving average of $G$'s weights, which keeps the modes once found; each says what it "
         "measured.", "presets"),
    Step("The conditional GAN",
         r"L=\mathbb E_{\mathbf x\sim p_r}\big[\ln D(\mathbf x\mid y)\big]+\mathbb E_{\mathbf z}\big[\ln(1-D(G(\mathbf z\mid y)\mid y))\big]",
         "Feed the label $y$ to both networks as an extra input: $D$ judges *is this a real example of class "
         "$y$?*, so $G$ must produce that class. Now you choose what is generated: a mode of the ring, or a "
         "digit.", "cgan"),
]

#: the sections of the first two views run inside the page's training fragment (Play redraws them)
LIVE_SECTIONS = ("overview", "plane", "curves", "presets")
# "trained": core.ui.TRAINED_KEY, the link's word that the digit cGAN shown was trained live
VIEWS = [View("The game", ("overview", "plane"), keys=("heat", "real", "fake", "man", "arr")),
         View("Training curves", ("curves", "presets")),
         View("Conditional GAN", ("cgan",), keys=("y", "cn", "digit", "ms", "trained"))]

SETS = {"ring8": "Ring of 8 Gaussians", "grid25": "5x5 grid of Gaussians", "ring8_pacgan": "PacGAN's ring (std 0.01)",
        "grid25_pacgan": "PacGAN's 5x5 grid (spacing 2)", "moons": "Two moons",
        "spirals": "Two spirals", "swiss_roll": "Swiss roll", "mine": "My points (click or CSV)"}
LOSSES = {"nonsaturating": "non-saturating: G min -ln D(G(z))", "minimax": "minimax (lecture): G min ln(1 - D(G(z)))",
          "wgan-gp": "WGAN-GP (critic + gradient penalty)"}
LRS = [0.0, 1e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 0.1, 1.0, 10.0]
WIDTHS = [8, 16, 32, 64, 128, 256]
BATCHES = [32, 64, 150, 256, 512]
MBSTD = [0, 2, 4, 8]
EMA = [0.0, 0.99, 0.999, 0.9999]
PRESET_LABELS = {"converges": "Converges", "mode_collapse": "Mode collapse", "saturating": "Saturating",
                 "nonsaturating": "Non-saturating", "grid25": "5x5 grid"}
#: mode collapse on PacGAN's data and its remedies (core.gan.REMEDIES), a second row of buttons
REMEDY_LABELS = {"ring_pacgan": "PacGAN's ring", "collapse_pacgan": "Collapse", "pacgan2": "PacGAN2",
                 "pacgan4": "PacGAN4", "mbstd": "Minibatch std", "grid_pacgan": "PacGAN's grid",
                 "grid_pacgan2": "Grid + PacGAN2", "grid_ema": "Grid + PacGAN2, Gaussian z"}
ALL_PRESETS = {**PRESET_LABELS, **REMEDY_LABELS}

#: the expander of networks and training settings, row by row (seven columns a row): (URL key, GANConfig field,
#: label, choices: a list for a selectbox, (lo, hi) for a whole number, None for core.gan's own list; help or None)
SETTINGS = (
    (("loss", "loss", "Loss", list(LOSSES), None), ("lrd", "lr_d", "D learning rate", LRS, None),
     ("lrg", "lr_g", "G learning rate", LRS, None), ("k", "k_d", "D steps per G step (k)", (1, 10), None),
     ("batch", "batch_size", "Batch size", BATCHES, None), ("b1", "beta1", "Adam beta1", [0.0, 0.5, 0.9], None),
     ("b2", "beta2", "Adam beta2", [0.9, 0.99, 0.999], None)),
    (("gw", "g_width", "G width", WIDTHS, None), ("gd", "g_depth", "G hidden layers", (1, 4), None),
     ("dw", "d_width", "D width", WIDTHS, None), ("dd", "d_depth", "D hidden layers", (1, 4), None),
     ("nz", "noise_dim", "Noise dimension", (1, 16), None), ("noise", "noise", "Noise p_z", None, None),
     ("act", "activation", "Activation", None, None)),
    (("pack", "pack", "PacGAN pack m", (1, 4),
      "D judges m samples concatenated (all real or all fake); 1 = the plain GAN."),
     ("mbstd", "mbstd", "Minibatch std", MBSTD,
      "One more input feature for D: the spread of the group of samples it came in."),
     ("ema", "ema", "G's moving average", EMA,
      "Samples come from an exponential moving average of G's weights with this decay (G itself trains as before).")),
)
#: how a selectbox of SETTINGS shows its values (the others as they are)
FORMATS = {"loss": LOSSES.get, "lrd": "{:g}".format, "lrg": "{:g}".format,
           "mbstd": lambda v: "off" if not v else f"groups of {v}",
           "ema": lambda v: "off" if not v else f"decay {v:g}"}

#: the control bar's buttons: (key, label, icon, the action a click asks for, help)
BUTTONS = (("train", "Train", ":material/model_training:", "train", None),
           ("step_d", "Step D", ":material/shield:", "d", "10 discriminator updates with G frozen"),
           ("step_g", "Step G", ":material/brush:", "g", "10 generator updates with D frozen"),
           ("reset", "Reset", ":material/restart_alt:", "reset", "New untrained networks with these settings and seed"))

PRESETS_HELP = ("**Presets**: one click sets the networks and training settings (hover a button for why; the "
                "reasons are also listed further down).")
POINTS_INTRO = ("**Your points**: click the plane to add points, or upload a CSV of `x,y` rows. They are "
                "shifted and scaled into the same box as the other data sets.")
POINTS_CAPTION = ("{n} points (at least {min_rows} are needed). A GAN on a few dozen points mostly learns "
                  "to copy them: click many.")
OVERVIEW_CAPTION = ("Iteration **{step:,}** ({d_steps:,} D updates, {g_steps:,} G updates). Noise "
                    "points and the fakes they become share a colour, so you can see how G folds the noise onto the "
                    "data. Gradients: D's loss updates D only (top path); G's loss is back-propagated through D, whose "
                    "weights stay fixed, into G (bottom path).")
#: the plane's toggles: (key, label, help or None)
PLANE_TOGGLES = (("heat", "D(x) heatmap", None), ("real", "Real data", None), ("fake", "Generated samples", None),
                 ("man", "G's manifold",
                  "A regular grid in z-space (first two noise dimensions, others 0), drawn through G."),
                 ("arr", "Gradient arrows",
                  "-dL_G/dx at generated points: where G's update pushes them. True length, capped."))
RESTORE_STOPPED = ("This link names the GAN at iteration **{goal:,}**; restoring it stopped at iteration "
                   "**{step:,}** at the server's limit of {seconds:.0f} s per run, and the link "
                   "now says so. Go on to restore the rest.")
DIVERGED = ("Training diverged: {reason}  The views show the last state before it happened; press "
            "**Reset** to start again.")
PLAYING = ("Playing: the GAN trains on (iteration **{step:,}**). Show *The game* or "
           "*Training curves* to watch it.")
PLANE_NAN = "The networks hold NaN/inf: nothing to draw. Scrub the timeline back or press **Reset**."
CRITIC_NOTE = " The D(x) colour scale is a critic score here (WGAN-GP), not a probability."
#: what a tick of Play says when it does not train (core.gan_session.play_tick's answer), and its icon
PLAY_SAYS = {"cap": "Play stopped at the server's limit of {seconds:.0f} s of training per run. Switch **Play** "
                    "off and on to go on, or press **Train**.",
             "busy": "Play is paused: the server's training slots are all busy. It goes on by itself when one frees."}
PLAY_ICONS = {"cap": ":material/timer_off:", "busy": ":material/hourglass_top:"}
MODES_CAPTION = ("A sample is *high quality* within 3 standard deviations of its nearest mode centre in each "
                 "coordinate; a mode counts as captured with at least a fifth of its even share n / K (PacGAN's rule, "
                 "`core.metrics.mode_coverage`, the same the comparison page uses).")
CURVES_CAPTION = ("A GAN has no likelihood: these curves are the only honest measures of progress. The losses "
                  "themselves are no guide (they fight each other); the JS estimates and mode coverage are.")
PRESETS_TEXT = ("Each button sets the networks and training settings above (then press **Train** or **Play**; "
                "*converges* and *mode collapse* on the ring and the *5x5 grid* open already trained, from shipped "
                "checkpoints: press **Reset** to watch them train).")
REMEDIES_TEXT = ("**Mode collapse on PacGAN's data and what fixes it** (Lin et al. 2018, Table 1 set-ups; each result "
                 "is read from the preset's shipped checkpoint, one seed; `bench/bench_gan.py --coverage` measures "
                 "3 seeds next to the paper's numbers). Every remedy draws its samples from a moving average of "
                 "G's weights (decay 0.999, *G's moving average* in the settings), and it is the average that keeps "
                 "the coverage once packing or minibatch std has found it: G itself keeps circling the game's "
                 "equilibrium, dropping and refinding modes. Set the average to *off* and train to watch those "
                 "dips; *Collapse* samples from G itself, and the average alone does not rescue it:")
RING_CGAN_CAPTION = ("Shipped checkpoint `gan_ring8_cgan`, made by `{command}`. D's heatmap is "
                     "D(x | y={label}): around mode {label} real and generated examples of label {label} meet, and D "
                     "cannot tell them apart (about 0.5). The same z with another label lands on another mode.")
DIGIT_STEPS = [500, 1000, 2000, 5000, 10000, 20000]
DIGIT_STEPS_HELP = ("The shipped model trained 20,000 iterations (about 5 minutes on a busy 2-core "
                    "CPU); a few thousand already give recognisable digits.")
