"""Generative adversarial networks: train a GAN live and watch the two players, the JS divergence,
mode collapse and conditional GANs."""
import hashlib
import time

import numpy as np
import streamlit as st

from core import admission, app_models, checkpoints, runtime, snippets, ui
from core import data as gdata
from core.viz import gan as fig
from core.viz.common import image_mosaic

ui.require_router()

from core import gan  # noqa: E402  (torch: imported after the router check so a deep link reruns fast)

st.title("Generative adversarial networks")
st.markdown(
    "Two networks play a zero-sum game. The **generator** $G$ turns noise $\\mathbf z$ into fake samples; the "
    "**discriminator** $D$ tries to tell them from real data. $G$ is never shown a real sample: it learns only "
    "through $D$'s judgement. Train the game below, step one player at a time, scrub back through training, "
    "and watch it converge, stall or collapse onto a few modes. A GAN is an *implicit* model: it can sample, "
    "but it has **no likelihood** $p(\\mathbf x)$ to report."
)

STEPS = [
    ui.Step("Two networks, one zero-sum game",
            r"\begin{aligned}G&:\ \mathbf z\mapsto\mathbf x=G(\mathbf z),\quad \mathbf z\sim p_z\\ "
            r"D&:\ \mathbf x\mapsto D(\mathbf x)\in(0,1)\ \ \text{(probability that }\mathbf x\text{ is real)}\end{aligned}",
            "The map above is the whole GAN: noise goes through $G$ into samples, real and fake samples go through "
            "$D$ into predictions, and the predictions give the two losses. Gradients flow back along the coloured "
            "paths: $D$'s loss updates $D$; $G$'s loss flows back *through* $D$ into $G$.", "overview"),
    ui.Step("The common loss",
            r"L=\mathbb E_{\mathbf x\sim p_r}\big[\ln D(\mathbf x)\big]+\mathbb E_{\mathbf x\sim p_g}\big[\ln(1-D(\mathbf x))\big]",
            "One number, two opposite goals: $D$ makes $L$ large (high $D$ on real points, low on fakes), $G$ makes "
            "it small by moving its samples where $D$ says *real*. The loss bars in the map are $-L$ for $D$ and "
            "$G$'s own loss (below).", "overview"),
    ui.Step("What D maximizes, what G minimizes",
            r"\max_D\ L\qquad \min_G\ \mathbb E_{\mathbf z}\big[\ln(1-D(G(\mathbf z)))\big]",
            "The heatmap is $D(\\mathbf x)$ over the plane (green: *real*, orange: *fake*). Each arrow is "
            "$-\\partial L_G/\\partial\\mathbf x$ at a generated point: where $G$'s gradient pushes it, uphill on "
            "$D$. $D$ learns where the fakes are; $G$ moves them to where $D$ is fooled. Use **Step D** and "
            "**Step G** to move one player at a time.", "plane"),
    ui.Step("The optimal D and the Jensen-Shannon divergence",
            r"\begin{aligned}D^*(\mathbf x)&=\frac{p_r(\mathbf x)}{p_r(\mathbf x)+p_g(\mathbf x)}\\ "
            r"L(D^*,G)&=-\ln 4+2\,D_{JS}(p_r\|p_g)\\ D_{JS}(p\|q)&=\tfrac12 D_{KL}\big(p\|\tfrac{p+q}2\big)+\tfrac12 D_{KL}\big(q\|\tfrac{p+q}2\big)\end{aligned}",
            "For a fixed $G$ the best $D$ is the share of real density at each point. Plugged in, the loss becomes "
            "the Jensen-Shannon divergence between data and generator, up to constants: so $(L+\\ln 4)/2$ estimates "
            "the JSD (a lower bound while $D$ is not optimal). The dashed curve checks it against a plain "
            "histogram estimate of the same divergence.", "curves"),
    ui.Step("At the optimum: p_g = p_r and D = 1/2",
            r"p_g=p_r\ \Rightarrow\ D^*(\mathbf x)=\tfrac12,\qquad L=-\ln 4,\qquad D_{JS}=0",
            "When $G$ reproduces the data, $D$ can do no better than a coin flip: mean $D$(real) and $D$(fake) both "
            "approach 0.5, the heatmap fades to white, and both JS estimates fall towards 0 (at most $\\ln 2$ when "
            "the two distributions do not overlap at all).", "curves"),
    ui.Step("Unstable training: saturation and mode collapse",
            r"\nabla_{\mathbf x}\ln\big(1-D(\mathbf x)\big)\to 0\ \text{ as } D(\mathbf x)\to 0"
            r"\qquad\text{vs}\qquad \min_G\ -\mathbb E_{\mathbf z}\big[\ln D(G(\mathbf z))\big]",
            "GAN training is a game, not a minimisation, and it can fail. With the lecture's loss a confident $D$ "
            "leaves $G$ almost no gradient (try *saturating*: the arrows vanish); the non-saturating loss has the "
            "same fixed point but strong gradients. And $G$ can collapse onto a few modes that currently fool $D$ "
            "(try *mode collapse*: the coverage bars go grey). The second row of presets puts the same strong $D$ on "
            "PacGAN's ring and adds a remedy: $D$ judging packs of 2 or 4 samples, or their spread; each says what "
            "it measured.", "presets"),
    ui.Step("The conditional GAN",
            r"L=\mathbb E_{\mathbf x\sim p_r}\big[\ln D(\mathbf x\mid y)\big]+\mathbb E_{\mathbf z}\big[\ln(1-D(G(\mathbf z\mid y)\mid y))\big]",
            "Feed the label $y$ to both networks as an extra input: $D$ judges *is this a real example of class "
            "$y$?*, so $G$ must produce that class. Now you choose what is generated: a mode of the ring, or a "
            "digit.", "cgan"),
]

url = ui.url()
# the sections of the first two views run inside the training fragment below (Play redraws them)
LIVE_SECTIONS = ("overview", "plane", "curves", "presets")
VIEWS = [ui.View("The game", ("overview", "plane"), keys=("heat", "real", "fake", "man", "arr")),
         ui.View("Training curves", ("curves", "presets")),
         ui.View("Conditional GAN", ("cgan",), keys=("y", "cn", "digit", "ms", app_models.TRAINED_KEY))]
wt = ui.Walkthrough(STEPS, VIEWS)

SETS = {"ring8": "Ring of 8 Gaussians", "grid25": "5x5 grid of Gaussians", "ring8_pacgan": "PacGAN's ring (std 0.01)",
        "grid25_pacgan": "PacGAN's 5x5 grid (spacing 2)", "moons": "Two moons",
        "spirals": "Two spirals", "swiss_roll": "Swiss roll", "mine": "My points (click or CSV)"}
LOSSES = {"nonsaturating": "non-saturating: G min -ln D(G(z))", "minimax": "minimax (lecture): G min ln(1 - D(G(z)))",
          "wgan-gp": "WGAN-GP (critic + gradient penalty)"}
LRS = [0.0, 1e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 0.1, 1.0, 10.0]
WIDTHS = [8, 16, 32, 64, 128, 256]
BATCHES = [32, 64, 150, 256, 512]
PRESET_LABELS = {"converges": "Converges", "mode_collapse": "Mode collapse", "saturating": "Saturating",
                 "nonsaturating": "Non-saturating", "grid25": "5x5 grid"}
#: mode collapse on PacGAN's data and its remedies (core.gan.REMEDIES), a second row of buttons
REMEDY_LABELS = {"ring_pacgan": "PacGAN's ring", "collapse_pacgan": "Collapse", "pacgan2": "PacGAN2",
                 "pacgan4": "PacGAN4", "mbstd": "Minibatch std", "grid_pacgan": "PacGAN's grid",
                 "grid_pacgan2": "Grid + PacGAN2"}
ALL_PRESETS = {**PRESET_LABELS, **REMEDY_LABELS}
MBSTD = [0, 2, 4, 8]
DEFAULT = gan.preset("converges")
#: the shipped GANs of each data set; one trained with exactly the page's settings opens trained
SHIPPED_2D = {"ring8": ("gan_ring8", "gan_ring8_collapse"), "grid25": ("gan_grid25",), "moons": ("gan_moons",),
              "swiss_roll": ("gan_swiss_roll",),
              **{d: tuple(ck for p, ck in gan.PRESET_CHECKPOINTS.items() if gan.preset(p).data == d)
                 for d in gdata.PACGAN_SETS}}
IT_KEY = "it"  # the link's training path of the GAN shown (core.gan.path_text): "3500", "3000-d10-500", "0"
MAX_LINK_ITERATIONS = 200_000  # the most a link may ask to be trained again (a few runs at the server's cap)
N_POINTS = DEFAULT.n_data
POINTS_KEY = "_gan_points"  # where ui.points_editor("gan", ...) keeps them
MODEL_KEY = "_gan_model"
TICK_S = 0.6  # seconds of training per play tick
VIEW = {}  # what one section tells the next within a run (the timeline position)


# ---------------------------------------------------------------------------------------------- cached pieces

@st.cache_resource(max_entries=12, show_spinner=False)
def shipped_state(name: str):
    """(tensors, record) of a shipped checkpoint, loaded once per process (each session rebuilds its own GAN)."""
    return checkpoints.load(checkpoints.shipped(name))


def from_shipped(name: str):
    """A session's own GAN from the shipped checkpoint ``name`` (config and every tensor checked by core.gan);
    raises CheckpointError."""
    tensors, record = shipped_state(name)
    return gan.from_checkpoint(tensors, record, name), record


@st.cache_resource(max_entries=12, show_spinner=False)
def shipped_config(name: str):
    """The config of the shipped checkpoint ``name``, once the whole checkpoint was checked by building a GAN from
    it (raises CheckpointError, which is not cached: a broken file is said on every open)."""
    return from_shipped(name)[0].config


@st.cache_resource(max_entries=8, show_spinner=False)
def toy_data(name: str, n: int, seed: int) -> "gan.GANData":
    """The toy set as GANData, one object per process (a model keeps its evaluation set while it sees the
    same object, so reruns do not rebuild it). Read-only."""
    X, y = gdata.toy(name, n, seed)
    return gan.GANData(X, y, name)


@st.cache_resource(show_spinner=False)
def user_data_store() -> dict:
    return ui.BoundedStore(32)


def comparable(cfg):
    """A config with the fields that do not change the trained model (the step budget) normalised."""
    return cfg.replace(steps=0)


# ---------------------------------------------------------------------------------------------- controls

def apply_preset(name: str):
    cfg = gan.preset(name)
    st.session_state.update(loss=cfg.loss, lrd=cfg.lr_d, lrg=cfg.lr_g, k=cfg.k_d, gw=cfg.g_width,
                            dw=cfg.d_width, gd=cfg.g_depth, dd=cfg.d_depth, nz=cfg.noise_dim, act=cfg.activation,
                            noise=cfg.noise, batch=cfg.batch_size, b1=cfg.beta1, b2=cfg.beta2, pack=cfg.pack,
                            mbstd=cfg.mbstd)
    if cfg.data in SETS and cfg.data != "ring8":  # a preset made for another data set brings it along
        st.session_state["data"] = cfg.data
    st.session_state["_gan_preset_note"] = name


def request(action: str):
    st.session_state["_gan_action"] = action


with st.container(border=True):
    c = st.columns([2, 1, 3])
    name = url.selectbox("Data", list(SETS), key="data", format_func=SETS.get, container=c[0])
    seed = ui.seed_input(container=c[1])
    c[2].caption("**Presets**: one click sets the networks and training settings (hover a button for why; the "
                 "reasons are also listed further down).")
    for row in (PRESET_LABELS, REMEDY_LABELS):
        for col, (p, label) in zip(st.columns(len(row)), row.items()):
            col.button(label, key=f"preset_{p}", on_click=apply_preset, args=(p,), width="stretch",
                       help=gan.PRESETS[p][1])
    with st.expander("Networks and training settings (every one is in the link)", icon=":material/tune:"):
        s = st.columns(7)
        loss = url.selectbox("Loss", list(LOSSES), key="loss", format_func=LOSSES.get, container=s[0])
        lr_d = url.selectbox("D learning rate", LRS, key="lrd", index=LRS.index(DEFAULT.lr_d),
                             format_func=lambda v: f"{v:g}",
                             container=s[1])
        lr_g = url.selectbox("G learning rate", LRS, key="lrg", index=LRS.index(DEFAULT.lr_g),
                             format_func=lambda v: f"{v:g}",
                             container=s[2])
        k_d = url.number("D steps per G step (k)", 1, 10, DEFAULT.k_d, key="k", container=s[3])
        batch = url.selectbox("Batch size", BATCHES, key="batch", index=BATCHES.index(DEFAULT.batch_size),
                              container=s[4])
        beta1 = url.selectbox("Adam beta1", [0.0, 0.5, 0.9], key="b1", index=1, container=s[5])
        beta2 = url.selectbox("Adam beta2", [0.9, 0.99, 0.999], key="b2", index=2, container=s[6])
        s = st.columns(7)
        g_width = url.selectbox("G width", WIDTHS, key="gw", index=WIDTHS.index(DEFAULT.g_width), container=s[0])
        g_depth = url.number("G hidden layers", 1, 4, DEFAULT.g_depth, key="gd", container=s[1])
        d_width = url.selectbox("D width", WIDTHS, key="dw", index=WIDTHS.index(DEFAULT.d_width), container=s[2])
        d_depth = url.number("D hidden layers", 1, 4, DEFAULT.d_depth, key="dd", container=s[3])
        noise_dim = url.number("Noise dimension", 1, 16, DEFAULT.noise_dim, key="nz", container=s[4])
        noise = url.selectbox("Noise p_z", list(gan.NOISES), key="noise", container=s[5])
        act = url.selectbox("Activation", list(gan.ACTIVATIONS), key="act",
                            index=list(gan.ACTIVATIONS).index(DEFAULT.activation), container=s[6])
        s = st.columns(7)
        pack = url.number("PacGAN pack m", 1, 4, DEFAULT.pack, key="pack", container=s[0],
                          help="D judges m samples concatenated (all real or all fake); 1 = the plain GAN.")
        mbstd = url.selectbox("Minibatch std", MBSTD, key="mbstd", container=s[1],
                              format_func=lambda v: "off" if not v else f"groups of {v}",
                              help="One more input feature for D: the spread of the group of samples it came in.")
    note = st.session_state.pop("_gan_preset_note", None)
    if note:
        st.info(f"**{ALL_PRESETS[note]}**: {gan.PRESETS[note][1]}", icon=":material/tune:")

cfg = DEFAULT.replace(data=name if name != "mine" else "custom", loss=loss, lr_d=lr_d, lr_g=lr_g, k_d=int(k_d),
                      batch_size=batch, beta1=beta1, beta2=beta2, g_width=g_width, g_depth=int(g_depth),
                      d_width=d_width, d_depth=int(d_depth), noise_dim=int(noise_dim), noise=noise, activation=act,
                      seed=int(seed), pack=int(pack), mbstd=int(mbstd),
                      n_eval=2500 if name in gdata.PACGAN_SETS else DEFAULT.n_eval)  # PacGAN scores 2,500 samples


# ---------------------------------------------------------------------------------------------- data

def user_points_panel():
    """Click or upload points; returns the session's points (n, 2)."""
    return ui.points_editor("gan", 3.0,
                            "**Your points**: click the plane to add points, or upload a CSV of `x,y` rows. They are "
                            "shifted and scaled into the same box as the other data sets.",
                            "{n} points (at least {min_rows} are needed). A GAN on a few dozen points mostly learns "
                            "to copy them: click many.", color=fig.REAL)


if name == "mine":
    app_models.link_value(IT_KEY, "0", "0")  # a GAN on your own points stays with you: the points are not in links
    X_user = user_points_panel()
    if len(X_user) < gdata.PointLimits.min_rows:
        st.info(f"Add at least {gdata.PointLimits.min_rows} points (you have {len(X_user)}) to train a GAN on them.",
                icon=":material/touch_app:")
        st.stop()
    try:  # into the toy sets' box [-2.5, 2.5]^2, in float64 (denormals or one repeated point never give NaN)
        Xn = gdata.normalise_points(X_user, 2.5, what="a GAN")
    except gdata.DataError as e:
        st.warning(ui.escape_md(e), icon=":material/scatter_plot:")
        st.stop()
    digest = hashlib.sha1(Xn.tobytes()).hexdigest()[:16]
    data_key = f"mine:{digest}"
    store = user_data_store()
    if data_key not in store:  # a BoundedStore: memory stays bounded on a shared server
        store[data_key] = gan.make_data(Xn, None, "custom")
    data = store[data_key]
else:
    data_key = f"toy:{name}"
    data = toy_data(name, N_POINTS, cfg.data_seed)


# ---------------------------------------------------------------------------------------------- the session's model
# A session trains its own GAN. The link names it: the settings, the seed and ``it``, the training path so far
# (core.gan.path_text; left out when it is what these settings open on). Opening a link restores that GAN: from
# the shipped checkpoint or the server's store of GANs trained here (every session's, kept as frozen states),
# else by training it again under the slot cap; training is deterministic, so the weights are the same
# (core.app_models states the rule for every page).

# (tensors, record) of GANs trained here, by data, settings and path: a ring GAN is about 0.6 MB
models = app_models.store("gan", 32, max_bytes=64 * 2**20, sizeof=app_models.tensor_bytes)


def thaw(state):
    """A session's own GAN from a frozen state (a shipped checkpoint's or the store's), with the data attached."""
    tensors, record = state
    m = gan.from_checkpoint(tensors, record)
    m.fit(data, 0)
    return m


def fresh_model():
    m = gan.GAN(cfg)
    m.fit(data, 0)  # attaches the data, logs step 0 and takes the first snapshot
    return m


def shipped_for_settings():
    """(name, record) of the shipped GAN trained with exactly these settings, or None. A shipped checkpoint of this
    data set that cannot be loaded is said, not hidden."""
    found = None
    for ck in SHIPPED_2D.get(name, ()):
        try:
            config = shipped_config(ck)
        except checkpoints.CheckpointError as e:
            st.warning(f"The shipped GAN `{ck}` could not be loaded ({e}); the settings it was trained with open "
                       "untrained.", icon=":material/error:")
            continue
        if found is None and comparable(config) == comparable(cfg):
            found = (ck, shipped_state(ck)[1])
    return found


SHIPPED = shipped_for_settings() if name != "mine" else None
# what these settings open on: the shipped GAN's training path (one run of both players, for older checkpoints)
DEFAULT_PATH = [(ph, int(n)) for ph, n in SHIPPED[1]["meta"].get("path", [["both", SHIPPED[1]["meta"]["step"]]])
                ] if SHIPPED else []


def origin_of(kind: str, step: int, shipped=None) -> dict:
    """Where the session's GAN came from, for its status line: ``text`` while it is as it came, ``short`` after
    the session trained it on."""
    if kind == "shipped":
        ck, record = shipped
        return {"step": step, "text": f"Opened trained: shipped checkpoint `{ck}`, made by "
                                      f"`{record['meta'].get('command', '?')}`.",
                "short": f"from the shipped checkpoint `{ck}` (iteration {step:,})"}
    if kind == "store":
        return {"step": step, "text": f"Opened at iteration **{step:,}**, as the link says: this server already held "
                                      "that GAN (same data, settings, seed and training give the same weights).",
                "short": f"from the link's GAN (iteration {step:,})"}
    if kind == "restored":
        return {"step": step, "text": f"Restored from the link: iteration **{step:,}**, trained again here with the "
                                      "link's settings and seed (training is deterministic: the same weights).",
                "short": f"from the link's GAN (iteration {step:,}, restored here)"}
    return {"step": 0, "text": "", "short": "from untrained"}


def reach(target, own=None):
    """The session's GAN trained along ``target`` (a training path) with these settings, and its origin: the
    shipped checkpoint or a stored state when one is exactly that, else the furthest one on the way (``own``, the
    session's model, among them) trained on with a progress box in one of the server's slots. A run stopped by the
    server's time cap returns the GAN as far as it got (stored too, so going on starts there)."""
    if not target:
        return fresh_model(), origin_of("fresh", 0)
    text = gan.path_text(target)
    starts = []  # (path, state, kind)
    if SHIPPED:
        starts.append((DEFAULT_PATH, shipped_state(SHIPPED[0]), "shipped"))
    for key, state in models.items():
        if key.startswith(model_key + "|"):
            starts.append(([tuple(c) for c in state[1]["meta"]["path"]], state, "store"))
    for path, state, kind in starts:
        if path == target:
            return thaw(state), origin_of(kind, sum(n for _, n in path), SHIPPED if kind == "shipped" else None)
    if own is not None:
        starts.append((own.path_, None, "own"))
    on_the_way = [(p, st_, k) for p, st_, k in starts if gan.path_rest(target, p) is not None]
    base_path, base_state, base_kind = max(on_the_way, key=lambda c: sum(n for _, n in c[0]), default=([], None, ""))
    rest = gan.path_rest(target, base_path)
    total, todo = sum(n for _, n in target), sum(n for _, n in rest)
    frm = {"shipped": f"the shipped checkpoint at iteration {sum(n for _, n in base_path):,}",
           "store": f"iteration {sum(n for _, n in base_path):,}, trained on this server",
           "own": f"iteration {sum(n for _, n in base_path):,}"}.get(base_kind, "untrained")
    got = {}

    def fit(progress):
        m = own if base_kind == "own" else thaw(base_state) if base_state is not None else fresh_model()
        got["model"] = m
        done = 0
        try:
            for phase, n in rest:
                s0 = m.step_
                m.fit(data, n, callback=lambda s, metrics, s0=s0, done=done: progress(done + s - s0, metrics),
                      phase=phase)
                done += m.step_ - s0
                if progress.stopped_for_time:
                    break
        except gan.TrainingDiverged:
            progress.done(f"Training diverged at iteration {m.step_:,}", ok=False)
        else:
            progress.done(f"Restored: iteration {m.step_:,} of {total:,} ({done:,} iterations trained here)")
        if m.path_ == target:
            return gan.state_of(m)
        models.put(f"{model_key}|{gan.path_text(m.path_)}", gan.state_of(m))
        return None

    every = max(cfg.log_every, todo // 20 // cfg.log_every * cfg.log_every)
    models.train(f"{model_key}|{text}", fit, steps=max(todo, 1), every=every, what="this GAN",
                 chart_keys=["d_loss", "g_loss", "d_real", "d_fake"],
                 label=f"Restoring the GAN this link names: {todo:,} iterations from {frm} to iteration {total:,}")
    m = got.get("model")
    if m is None:  # another session trained it meanwhile
        m = thaw(models.get(f"{model_key}|{text}"))
    return m, origin_of("restored", m.step_)


def link_target():
    """The training path the link asks for (None: these settings' default), checked."""
    raw = app_models.from_link(IT_KEY) if name != "mine" else None
    if raw is None:
        return None
    try:
        return gan.parse_path(raw, MAX_LINK_ITERATIONS)
    except ValueError as e:
        app_models.check_link_value(IT_KEY, False, str(e))
        return None


model_key = f"{data_key}:{checkpoints.config_hash(comparable(cfg))}"
slot = st.session_state.get(MODEL_KEY)
action = st.session_state.pop("_gan_action", None)
target = link_target()
if slot is None or slot["key"] != model_key or action == "reset" or (
        target is not None and target != slot["model"].path_):
    if action == "reset":
        model, origin = fresh_model(), origin_of("fresh", 0)
    else:
        model, origin = reach(target if target is not None else DEFAULT_PATH)
    slot = {"key": model_key, "model": model, "origin": origin, "stored": gan.path_text(model.path_),
            "target": target if target is not None and model.path_ != target else None}
    st.session_state[MODEL_KEY] = slot
elif action == "restore" and slot.get("target"):  # go on towards the link's GAN after the time cap stopped it
    model, origin = reach(slot["target"], own=slot["model"])
    slot.update(model=model, origin=origin, target=slot["target"] if model.path_ != slot["target"] else None)
model = slot["model"]


def run_training(steps: int, phase: str = "both", progress=None) -> None:
    """Train the session's model ``steps`` more iterations; a divergence is kept (``model.diverged_``) and shown."""
    if model.diverged_:
        return
    s0 = model.step_
    cb = (lambda s, m: progress(s - s0, m)) if progress is not None else None
    try:
        model.fit(data, steps, callback=cb, phase=phase)
    except gan.TrainingDiverged:
        pass


def status() -> str:
    """The status line of the GAN shown, computed from it as it is now (after this run's training)."""
    o = slot["origin"]
    if model.step_ == 0:
        return "Untrained: press **Train**, **Play** or step one player."
    if model.step_ == o["step"]:
        return o["text"]
    if not o["step"]:
        return f"At iteration **{model.step_:,}**: trained here from untrained networks."
    return f"At iteration **{model.step_:,}**: {o['short']}, then trained {model.step_ - o['step']:,} more here."


def write_link(address_bar: bool = True) -> None:
    """Put the GAN's training path into the link (none for the user's own points: they never leave the session)."""
    if name != "mine":
        app_models.link_value(IT_KEY, gan.path_text(model.path_), gan.path_text(DEFAULT_PATH), address_bar)


def remember() -> None:
    """Keep the session's GAN, as it is now, in the server's store, so its link opens at once for anyone."""
    text = gan.path_text(model.path_)
    if name != "mine" and slot.get("stored") != text and model.path_ != DEFAULT_PATH and model.step_:
        models.put(f"{model_key}|{text}", gan.state_of(model))
        slot["stored"] = text


# ---------------------------------------------------------------------------------------------- train controls

with st.container(border=True):
    b = st.columns([1.1, 1.1, 1.1, 1.1, 1.1, 1, 2.2])
    n_steps = url.selectbox("Iterations per Train click", [100, 500, 1000, 2000, 5000], key="n", index=2,
                            container=b[0], label_visibility="visible")

# the requested action runs before the buttons are drawn, so they show the state after it (e.g. disabled
# once training diverged); its progress box appears just below the control bar
if action == "train":
    with ui.TrainingProgress(n_steps, label=f"Training {n_steps:,} iterations "
                             f"({cfg.k_d} D step{'s' * (cfg.k_d > 1)} + 1 G step each)",
                             every=max(cfg.log_every, n_steps // 20 // cfg.log_every * cfg.log_every),
                             chart_keys=["d_loss", "g_loss", "d_real", "d_fake"]) as progress:
        t0, s0 = time.perf_counter(), model.step_
        run_training(n_steps, "both", progress)
        dt, ran = time.perf_counter() - t0, model.step_ - s0
        if model.diverged_:
            progress.done("Training diverged", ok=False)
        else:
            progress.done(f"Trained {ran:,} iterations in {dt:.1f} s ({ran / max(dt, 1e-9):,.0f} it/s); "
                          f"now at iteration {model.step_:,}")
elif action in ("d", "g"):
    run_training(10, action)
remember()  # after training, Step D/G, and the first full run after Play stopped

if slot.get("target"):
    goal = sum(n for _, n in slot["target"])
    st.info(f"This link names the GAN at iteration **{goal:,}**; restoring it stopped at iteration "
            f"**{model.step_:,}** at the server's limit of {admission.gate().seconds:.0f} s per run, and the link "
            "now says so. Go on to restore the rest.", icon=":material/timer_off:")
    st.button(f"Go on to iteration {goal:,}", key="restore", icon=":material/fast_forward:", on_click=request,
              args=("restore",))

stuck = bool(model.diverged_)
b[1].markdown("&nbsp;")
b[1].button("Train", key="train", type="primary", icon=":material/model_training:", width="stretch",
            on_click=request, args=("train",), disabled=stuck)
b[2].markdown("&nbsp;")
b[2].button("Step D", key="step_d", icon=":material/shield:", width="stretch", on_click=request, args=("d",),
            disabled=stuck, help="10 discriminator updates with G frozen")
b[3].markdown("&nbsp;")
b[3].button("Step G", key="step_g", icon=":material/brush:", width="stretch", on_click=request, args=("g",),
            disabled=stuck, help="10 generator updates with D frozen")
b[4].markdown("&nbsp;")
b[4].button("Reset", key="reset", icon=":material/restart_alt:", width="stretch", on_click=request,
            args=("reset",), help="New untrained networks with these settings and seed")
b[5].markdown("&nbsp;")
playing = url.toggle("Play", False, key="play", container=b[5],
                     help="Train continuously and redraw about twice a second; switch off to pause.")
if not playing:  # Play's cap counts one stretch of playing: switching it off and on starts a new one
    slot["played_s"] = 0.0
status_box = b[6].empty()  # filled by the live fragment, so it follows Play as well

box = model.box_
d_kind = "critic" if cfg.loss == "wgan-gp" else "prob"
modes = gdata.mixture_modes(name) if name in ("ring8", "grid25", *gdata.PACGAN_SETS) else None


# ---------------------------------------------------------------------------------------------- live views

def current_view(seed_: int):
    """What the views need, computed from the model as it is now."""
    heat_res = 60
    xs, _ = model.grid(heat_res)
    Z = model.d_grid(heat_res)
    z = model.noise(500, runtime.torch_generator(seed_ + 7, model.device.type))
    fake = model.generate(z)
    manifold = model.manifold(15) if not model.conditional else None
    arrows = model.g_gradients(150, seed=seed_ + 11)
    return {"xs": xs, "Z": Z, "z": z.cpu().numpy(), "fake": fake, "manifold": manifold, "arrows": arrows}


def play_tick() -> None:
    """One Play tick: train about TICK_S seconds in log_every chunks, holding one of the server's slots for
    the tick only (so a closed tab, whose ticks stop, holds nothing); Play pauses while every slot is busy
    and stops for good at the server's cap on one action, counted over this model's whole play."""
    gate = admission.gate()
    played = slot.setdefault("played_s", 0.0)
    if played >= gate.seconds:
        st.info(f"Play stopped at the server's limit of {gate.seconds:.0f} s of training per run. Switch **Play** "
                "off and on to go on, or press **Train**.", icon=":material/timer_off:")
        return
    ticket = gate.try_enter("GAN Play")
    if ticket is None:
        st.info("Play is paused: the server's training slots are all busy. It goes on by itself when one frees.",
                icon=":material/hourglass_top:")
        return
    with ticket:
        t_end = time.perf_counter() + TICK_S
        while time.perf_counter() < t_end and not model.diverged_:
            run_training(cfg.log_every)
        slot["played_s"] = played + ticket.elapsed()


def draw_live():
    if playing and not model.diverged_:
        play_tick()
        write_link(address_bar=False)  # the sidebar's link follows every tick, the address bar when Play stops
    status_box.caption(status())
    if model.diverged_:
        st.error(f"Training diverged: {model.diverged_}  The views show the last state before it happened; press "
                 "**Reset** to start again.", icon=":material/error:")
    if not any(wt.shows(s) for s in LIVE_SECTIONS):  # e.g. the cGAN view: Play still trains the GAN
        if playing and not model.diverged_:
            st.caption(f"Playing: the GAN trains on (iteration **{model.step_:,}**). Show *The game* or "
                       "*Training curves* to watch it.")
        return
    view = None
    # the grids, samples and arrows: the game's two sections draw them, and the presets' step of the walkthrough
    if wt.shows("overview") or wt.shows("plane") or (wt.on and wt.shows("presets")):
        with np.errstate(all="ignore"):
            try:
                view = current_view(seed)
            except Exception:  # a diverged model may produce nothing drawable: fall back to the last snapshot
                view = None
    wt.section("overview", lambda: draw_overview(view))
    wt.section("plane", lambda: draw_plane(view))
    wt.section("curves", draw_curves)
    wt.section("presets", lambda: draw_presets(view))


def draw_overview(view):
    st.subheader("The model: noise, G, samples, D, predictions, losses")
    h = model.metrics
    real = data.X[:: max(1, len(data.X) // 500)]
    if view is None:
        st.warning("Nothing to draw: the networks hold NaN/inf.", icon=":material/warning:")
        return
    d_real = model.discriminate(real)
    d_fake = model.discriminate(view["fake"])
    xs = view["xs"]
    st.plotly_chart(fig.overview(view["z"], view["fake"], real, d_real, d_fake, (xs, xs, view["Z"]), box,
                                 h.get("d_loss"), h.get("g_loss"), d_kind), key="overview")
    st.caption(f"Iteration **{model.step_:,}** ({model.d_steps_:,} D updates, {model.g_steps_:,} G updates). Noise "
               "points and the fakes they become share a colour, so you can see how G folds the noise onto the "
               "data. Gradients: D's loss updates D only (top path); G's loss is back-propagated through D, whose "
               "weights stay fixed, into G (bottom path).")


def draw_plane(view):
    st.subheader("Real vs generated, D(x) over the plane, G's manifold and gradient arrows")
    snaps = model.snapshots_
    a, b_ = st.columns([1, 3])
    with a:
        show_heat = url.toggle("D(x) heatmap", True, key="heat")
        show_real = url.toggle("Real data", True, key="real")
        show_fake = url.toggle("Generated samples", True, key="fake")
        show_man = url.toggle("G's manifold", True, key="man",
                              help="A regular grid in z-space (first two noise dimensions, others 0), drawn through G.")
        show_arr = url.toggle("Gradient arrows", True, key="arr",
                              help="-dL_G/dx at generated points: where G's update pushes them. True length, capped.")
        idx = len(snaps)
        if len(snaps) > 1 and not playing:
            idx = st.slider("Timeline: snapshot", 0, len(snaps), len(snaps), key=f"timeline_{len(snaps)}",
                            help="Scrub back through training: the last position is the model as it is now.")
        VIEW["timeline"] = snaps[idx].step if idx < len(snaps) else None
        if idx < len(snaps):
            st.caption(f"Showing the snapshot at iteration **{snaps[idx].step:,}** (of {model.step_:,}).")
    real = data.X[:: max(1, len(data.X) // 800)]
    if idx < len(snaps):
        s = snaps[idx]
        xs, _ = model.grid(s.heat.shape[0])
        plane = fig.plane(box, real if show_real else None, s.samples if show_fake else None,
                          (xs, xs, s.heat) if show_heat else None, s.manifold if show_man else None, None, d_kind,
                          title=f"Iteration {s.step:,} (snapshot)")
        grad_note = "Arrows are drawn for the current model only."
    elif view is None:
        st.warning("The networks hold NaN/inf: nothing to draw. Scrub the timeline back or press **Reset**.",
                   icon=":material/warning:")
        return
    else:
        xs = view["xs"]
        P, V = view["arrows"]
        plane = fig.plane(box, real if show_real else None, view["fake"] if show_fake else None,
                          (xs, xs, view["Z"]) if show_heat else None, view["manifold"] if show_man else None,
                          (P, V) if show_arr else None, d_kind, title=f"Iteration {model.step_:,} (now)")
        norms = np.linalg.norm(V, axis=1)
        grad_note = (f"Mean gradient length |dL_G/dx| = **{np.nanmean(norms):.3g}** "
                     f"(largest {np.nanmax(norms) if np.isfinite(norms).any() else float('nan'):.3g}).")
    b_.plotly_chart(plane, key="plane")
    with a:
        st.caption(grad_note + (" The D(x) colour scale is a critic score here (WGAN-GP), not a probability."
                                if d_kind == "critic" else ""))


def draw_curves():
    st.subheader("Training curves: the two players, the JS divergence and mode coverage")
    H = model.history_
    st.plotly_chart(fig.curves(H, VIEW.get("timeline"), d_kind), key="curves")
    h = model.metrics
    cols = st.columns(5)
    if d_kind == "prob":
        cols[0].metric("mean D(real)", f"{h.get('d_real', float('nan')):.3f}")
        cols[1].metric("mean D(fake)", f"{h.get('d_fake', float('nan')):.3f}")
        jv = h.get("js_value")
        cols[2].metric("JS from the value", f"{jv:.3f}" if jv is not None else "-",
                       help="(L + ln 4) / 2 with the current D: the JSD if D were optimal, a lower bound otherwise.")
    else:
        cols[0].metric("mean critic(real)", f"{h.get('d_real', float('nan')):.3f}")
        cols[1].metric("mean critic(fake)", f"{h.get('d_fake', float('nan')):.3f}")
        cols[2].metric("Wasserstein estimate", f"{h.get('w_estimate', float('nan')):.3f}",
                       help="E_r[f] - E_g[f]: WGAN-GP's critic estimates a Wasserstein distance, not the JSD.")
    cols[3].metric("JS of grid histograms", f"{h.get('js_hist', float('nan')):.3f}",
                   help="40x40 cells over the plot box; 0 = same histogram, ln 2 = 0.693 = no overlap.")
    if "modes" in h:
        cols[4].metric("modes captured", f"{h['modes']} / {h['n_modes']}", f"{100 * h['hq']:.0f}% high quality",
                       delta_color="off")
    if modes is not None and "mode_counts" in h:
        st.plotly_chart(fig.mode_bars(h["mode_counts"], model.config.n_eval,
                                      title=f"High-quality samples per mode (of {model.config.n_eval:,}) at iteration "
                                            f"{h['step']:,}"), key="modebars")
        st.caption("A sample is *high quality* within 3 standard deviations of its nearest mode centre in each "
                   "coordinate; a mode counts as captured with at least a fifth of its even share n / K (PacGAN's rule, "
                   "`core.metrics.mode_coverage`, the same the comparison page uses).")
    st.caption("A GAN has no likelihood: these curves are the only honest measures of progress. The losses "
               "themselves are no guide (they fight each other); the JS estimates and mode coverage are.")


def draw_presets(view=None):
    st.subheader("Why GAN training is unstable: the presets")
    if wt.on:  # the walkthrough's step shows this section alone: the GAN itself, so the step shows what it says
        draw_preset_figures(view)
        coverage_verdict()
    st.markdown("Each button sets the networks and training settings above (then press **Train** or **Play**; "
                "*converges* and *mode collapse* on the ring and the *5x5 grid* open already trained, from shipped "
                "checkpoints: press **Reset** to watch them train).")
    for p, label in PRESET_LABELS.items():
        st.markdown(f"- **{label}**: {gan.PRESETS[p][1]}")
    st.markdown("**Mode collapse on PacGAN's data and what fixes it** (Lin et al. 2018, Table 1 set-ups; each result "
                "is read from the preset's shipped checkpoint, one seed; `bench/bench_gan.py --coverage` measures "
                "3 seeds next to the paper's numbers):")
    for p, label in REMEDY_LABELS.items():
        st.markdown(f"- **{label}**: {gan.PRESETS[p][1]} *{measured(p)}*")
    if not wt.on:
        coverage_verdict()


def measured(p: str) -> str:
    """What the preset's shipped checkpoint measured (its JSON's history), or why there is no number."""
    ck = gan.PRESET_CHECKPOINTS[p]
    try:
        return gan.coverage_text(shipped_state(ck)[1]["meta"].get("history", []), f"`{ck}`, seed 0")
    except checkpoints.CheckpointError:
        return f"(checkpoint `{ck}` missing: no measured number)"


def coverage_verdict():
    h = model.metrics
    if "modes" in h and h["step"] > 0:
        if h["modes"] < h["n_modes"] and h["hq"] > 0.5:
            st.warning(f"Right now G covers **{h['modes']} of {h['n_modes']}** modes with {100 * h['hq']:.0f}% "
                       "high-quality samples: sharp samples, missing modes, the signature of mode collapse.",
                       icon=":material/warning:")
        elif h["modes"] == h["n_modes"]:
            st.success(f"All {h['n_modes']} modes captured, {100 * h['hq']:.0f}% of samples high quality.",
                       icon=":material/check:")


def draw_preset_figures(view):
    """The plane now (samples, D, G's gradient arrows) and the mode coverage: collapse and saturation at a glance."""
    if view is None:
        st.warning("Nothing to draw: the networks hold NaN/inf.", icon=":material/warning:")
        return
    real = data.X[:: max(1, len(data.X) // 800)]
    xs = view["xs"]
    a, b_ = st.columns([3, 2]) if modes is not None else (st.container(), None)
    a.plotly_chart(fig.plane(box, real, view["fake"], (xs, xs, view["Z"]), None, view["arrows"], d_kind,
                             title=f"Iteration {model.step_:,} (now)"),
                   key="preset_plane")
    h = model.metrics
    if b_ is not None and "mode_counts" in h:
        b_.plotly_chart(fig.mode_bars(h["mode_counts"], model.config.n_eval, title="High-quality samples per mode"),
                        key="preset_modebars")


wt.switch()  # the view switch, drawn outside the fragment (the fragment's sections are its first)
live = ui.fragment(draw_live, run_every=TICK_S + 0.2 if playing and not model.diverged_ else None)
live()
write_link()  # a full run: the link and the address bar name the GAN shown


# ---------------------------------------------------------------------------------------------- conditional GAN

CGAN_SHIPPED = {"ring8": "gan_ring8_cgan"}


def draw_cgan():
    st.subheader("Conditional GAN: choose a label, see it generated")
    t1, t2 = st.tabs(["Ring of 8: the mode is the label", "MNIST digits: the digit is the label"])
    with t1:
        a, b_ = st.columns([1, 2.5])
        with a:
            label = url.selectbox("Mode label y", list(range(8)), key="y", container=a,
                                  help="The cGAN was trained with each ring point's mode as its label.")
            n_show = url.slider("Samples", 50, 1000, 300, key="cn", step=50, container=a)
        try:
            cm, rec = cgan_model("gan_ring8_cgan")
        except checkpoints.CheckpointError as e:
            st.warning(f"The shipped ring cGAN could not be loaded: {e}", icon=":material/error:")
            return
        ring = toy_data("ring8", N_POINTS, cm.config.data_seed)
        Xr, yr = ring.X, ring.y
        fake = cm.sample(n_show, seed=seed, y=label)
        xs, _ = cm.grid(50)
        Z = cm.d_grid(50, y=label)
        centers, std = gdata.mixture_modes("ring8")
        on_mode = float((np.linalg.norm(fake - centers[label], axis=1) <= 3 * std).mean())
        b_.plotly_chart(fig.conditional_plane(cm.box_, Xr[::10], yr[::10], fake, label, (xs, xs, Z), centers,
                                              title=f"G(z | y={label}) and D(x | y={label})"), key="cgan_plane")
        a.metric(f"samples on mode {label}", f"{100 * on_mode:.0f}%",
                 help="Within 3 standard deviations of the chosen mode's centre.")
        a.caption(f"Shipped checkpoint `gan_ring8_cgan`, made by `{rec['meta'].get('command', '?')}`. D's heatmap is "
                  f"D(x | y={label}): around mode {label} real and generated examples of label {label} meet, and D "
                  "cannot tell them apart (about 0.5). The same z with another label lands on another mode.")
    with t2:
        draw_digits()


@st.cache_resource(max_entries=4, show_spinner="Loading the conditional GAN...")
def cgan_model(name: str):
    m, rec = from_shipped(name)
    return m, rec


def live_digit_store() -> app_models.ModelStore:
    """Digit cGANs trained live, by config (shared by all sessions: training is deterministic)."""
    return app_models.store("gan_digits", 4)


@st.cache_data(max_entries=64, show_spinner=False)
def digit_samples(model_key: str, digit: int, n: int, seed_: int):
    m = live_digit_store().get(model_key) if model_key.startswith("live:") else cgan_model(model_key)[0]
    return gan.to_images(m.sample(n, seed=seed_, y=digit))


def draw_digits():
    a, b_ = st.columns([1, 2.5])
    with a:
        digit = url.selectbox("Digit", list(range(10)), key="digit", container=a)
        msteps = url.selectbox("Iterations for *Train live*", [500, 1000, 2000, 5000, 10000, 20000], key="ms",
                               index=3, container=a,
                               help="The shipped model trained 20,000 iterations (about 5 minutes on a busy 2-core "
                                    "CPU); a few thousand already give recognisable digits.")
        mcfg = gan.preset("mnist_cgan", steps=msteps, seed=int(seed))
        live_key = f"live:{checkpoints.config_hash(mcfg)}"
    # a click, or a link that says this cGAN was trained live and this server does not hold it (app_models' rule)
    if st.session_state.pop("_gan_mtrain", False):
        train_digits_live(mcfg, live_key, again=True)
    elif app_models.link_says_trained() and live_key not in live_digit_store():
        train_digits_live(mcfg, live_key, restoring=True)
    # drawn after any training of this run: the label says what is shown
    a.button(app_models.train_label(live_key in live_digit_store()), key="mtrain", icon=":material/model_training:",
             width="stretch", on_click=lambda: st.session_state.update(_gan_mtrain=True),
             help="Train the digit cGAN here with these iterations and this seed (progress below).")
    app_models.mark_trained(live_key in live_digit_store())
    if live_key in live_digit_store():
        key, note = live_key, f"Trained live on this server (by you or anyone who asked for the same settings): {msteps:,} iterations, seed {seed}."
    else:
        try:
            _, rec = cgan_model("gan_mnist_cgan")
        except checkpoints.CheckpointError as e:
            b_.warning(f"The shipped digit cGAN could not be loaded: {e}  Click **Train live** to train one.",
                       icon=":material/error:")
            return
        key = "gan_mnist_cgan"
        note = f"Shipped checkpoint `gan_mnist_cgan`, made by `{rec['meta'].get('command', '?')}`."
    imgs = digit_samples(key, digit, 64, int(seed))
    b_.plotly_chart(fig.digit_grid(imgs, 8, title=f"64 samples of G(z | y={digit})"), key="digits")
    ui.download_png(np.kron(image_mosaic(np.asarray(imgs), ncols=8), np.ones((4, 4))),
                    {"model": key, "digit": digit, "samples": 64, "seed": int(seed)},
                    f"genlab_cgan_{digit}_seed{int(seed)}.png", label="Download these digits (PNG)", container=b_)
    a.caption(note + " G and D are MLPs on 28x28 pixels; the label enters both as a one-hot vector.")


def train_digits_live(mcfg, key: str, again: bool = False, restoring: bool = False):
    def fit(progress):
        try:
            m = gan.train(mcfg, digit_data(), callback=progress)
        except gan.TrainingDiverged as e:
            progress.done("Training diverged", ok=False)
            st.error(str(e), icon=":material/error:")
            return None
        progress.done(f"Trained {m.step_:,} iterations in {m.seconds_:.0f} s")
        return m

    live_digit_store().train(key, fit, steps=mcfg.steps, every=mcfg.log_every, again=again, restoring=restoring,
                             label=f"Training the digit cGAN for {mcfg.steps:,} iterations",
                             chart_keys=["d_loss", "g_loss", "d_real", "d_fake"], what="this digit cGAN")


@st.cache_resource(show_spinner="Loading MNIST...")
def digit_data():
    return gan.load_data(gan.preset("mnist_cgan"))


wt.section("cgan", draw_cgan, isolated=True)

ui.reproduce(snippets.gan(cfg.replace(steps=int(model.step_)), int(seed), points=Xn if name == "mine" else None),
             "genlab_gan.py")
ui.show_code(gan.GAN._d_step, gan.GAN._g_step, gan.GAN._g_loss, gan.GAN._packed, gan.mbstd_feature, gan.GAN.evaluate,
             gan.histogram_js, gan.gmetrics.mode_coverage)
