"""Compare the families: a GAN, a VAE, a flow and a diffusion model on the same points, for the same seconds."""
import hashlib

import streamlit as st

from core import compare, snippets, ui
from core import data as gdata
from core.checkpoints import CheckpointError
from core.steps import compare as steps
from core.ui import compare as app
from core.viz import compare as fig

ui.require_router()

url, wt = ui.page_header("Compare the families", steps)

SETS = {"moons": "Two moons", "ring8": "Ring of 8 Gaussians", "checkerboard": "Checkerboard",
        "swiss_roll": "Swiss roll", "grid25": "5x5 grid of Gaussians", "spirals": "Two spirals",
        "circles": "Concentric circles", "mine": "My points (click or CSV)"}
DEFAULT_BUDGET = 10
POINTS_KEY = "_compare_points"  # where ui.points_editor("compare", ...) keeps them


# ---------------------------------------------------------------------------------------------- controls

with st.container(border=True):
    c = st.columns([2, 1.6, 1, 1.5])
    name = url.selectbox("Data", list(SETS), key="data", format_func=SETS.get, container=c[0])
    budget = url.slider("Seconds of training per family", 2, 30, DEFAULT_BUDGET, key="budget", container=c[1],
                        help="Every family trains for this many seconds of wall-clock time on one CPU thread, "
                             "then stops (steps differ: a GAN step is cheaper than a flow step).")
    seed = ui.seed_input(container=c[2])
    c[3].write("")
    c[3].button("Train again", icon=":material/model_training:", key="train", type="primary", width="stretch",
                help="Train all four with this budget and seed (about 4 x the budget, plus ~15 s of measuring; "
                     "never longer than the server's limit per run).",
                on_click=lambda: st.session_state.update(_compare_train=True))

points, note = None, ""
if name == "mine":
    points = ui.points_editor("compare", (-3.5, 3.5, -3.5, 3.5),
                              "**Your points**: click the plane to add points, or upload a CSV of `x,y` rows.",
                              "{n} points. The comparison needs at least 20 ({min_rows} to start with); a quarter "
                              "are held out as test points.")
    if len(points) < 20:
        st.info(f"Add at least 20 points (you have {len(points)}) to compare the families on them.",
                icon=":material/touch_app:")
        st.stop()
    try:  # all at one spot or on one line: said before any training (KDE would fail with "bandwidth must be positive")
        gdata.check_spread(points, "a density model")
    except gdata.DataError as e:
        st.warning(ui.escape_md(e), icon=":material/scatter_plot:")
        st.stop()
    digest = hashlib.sha1(points.tobytes()).hexdigest()[:16]
    data_key = f"mine:{digest}"
    config = compare.CompareConfig(data="custom", budget=float(budget), seed=seed)
else:
    data_key = f"toy:{name}"
    config = compare.CompareConfig(data=name, budget=float(budget), seed=seed)
key = (data_key, float(budget), int(seed))

if st.session_state.pop("_compare_train", False):
    app.live_store().pop(key, None)
    app.train(key, config, points)

result, provenance = app.live_store().get(key), ""
if result is not None:
    provenance = (f"Trained on this server: {budget} s per family, seed {seed}, "
                  f"{result.meta.get('threads', 1)} thread(s), {result.meta.get('wall_seconds', 0):.0f} s in all.")
elif name != "mine":
    try:
        pre = app.shipped(name)
    except CheckpointError as e:
        st.warning(f"The precomputed comparison could not be loaded: {e}  Click **Train again** to run it.",
                   icon=":material/error:")
        pre = None
    if pre is not None:
        result = pre
        same = pre.config.budget == budget and pre.config.seed == seed
        provenance = ((f"Precomputed, by `{pre.meta.get('command', 'python -m core.compare run')}` "
                       f"({pre.meta.get('threads', 1)} thread, a shared 2-core machine).") if same else
                      f"Showing the precomputed result ({pre.config.budget:g} s per family, seed {pre.config.seed}) "
                      f"until you click **Train again** for {budget} s and seed {seed}.")
if result is None:
    st.info(f"Nothing trained for these settings yet: click **Train again** (about {app.estimate_seconds(budget):.0f} s).",
            icon=":material/model_training:")
    st.stop()
st.caption(provenance)
if result.note:
    st.caption(result.note)

rows = {r["family"]: r for r in result.rows}
refs = {r["family"]: r for r in result.references}
box = fig.box_of(result.test)  # the data's frame: samples far off the data fall outside it, as they should


# --------------------------------------------------------------------------------------------- sections

def draw_samples():
    st.subheader("Samples beside the data, on the same axes")
    show_kde = url.toggle("Show KDE's samples too", False, key="kde",
                          help="Kernel density estimation (scikit-learn) also samples: a classical reference.")
    order = compare.FAMILIES + (("kde",) if show_kde else ())
    subtitles = {f: f"{compare.LABELS[f]}: {rows[f]['steps']:,} steps" for f in compare.FAMILIES if f in rows}
    subtitles["data"] = f"Held-out data ({len(result.test):,})"
    # three square panels a row at every width: five in one row were 100 px each on a laptop with the sidebar open
    st.plotly_chart(fig.samples_grid(result.test, result.samples, order, box, subtitles, ncols=3, panel=230),
                    key="samples")
    st.caption(f"{len(result.samples['gan']):,} samples per model (seed {result.config.seed + 1}); the diffusion "
               "model samples with DDIM in 50 steps, the VAE draws x from its decoder's Gaussian.")


def draw_table():
    st.subheader("The measured table")
    # two tables of a few columns each, so every column is readable at a laptop's width (one table of twelve cut
    # off "can do", the widest); the model's name heads both
    rows_shown = compare.table(result)
    quality = ["model", "test NLL", "MMD^2", "sliced W", "precision", "recall", "modes"]
    cost = ["model", "can do", "steps", "train s", "sample s/1000", "params"]
    st.markdown("**How good: likelihood and samples**")
    st.dataframe([{k: r[k] for k in quality} for r in rows_shown], hide_index=True, width="stretch",
                 column_config={"model": st.column_config.TextColumn(pinned=True),
                                "MMD^2": st.column_config.TextColumn("MMD²")})
    st.markdown("**What it can do, and what it costs**")
    st.dataframe([{k: r[k] for k in cost} for r in rows_shown], hide_index=True, width="stretch",
                 column_config={"model": st.column_config.TextColumn(pinned=True),
                                "can do": st.column_config.TextColumn(width="large"),
                                "sample s/1000": st.column_config.TextColumn("sampling s per 1,000")})
    st.caption(f"Test NLL: nats per point on the {len(result.test):,} held-out points (lower is better; `<=` marks "
               f"an upper bound: the VAE's IWAE with k = {result.config.iwae_k}, the diffusion model's variational "
               f"bound over all T terms with the DDPM variance beta_t). MMD^2: Gaussian kernel of width "
               f"{result.bandwidth:.2f} (a quarter of the median pairwise distance), unbiased, about 0 for a perfect "
               "model. Sliced W: mean 1-D Wasserstein-1 over 256 random directions. Precision and recall: k-NN "
               "balls (k = 3). Modes: modes holding at least 20% of an even share, and the share of samples within "
               "3 standard deviations of a mode. Times on this machine, one thread; parameters: all that were "
               "trained (the GAN's discriminator included).")
    st.markdown("**What the numbers say**")
    st.markdown("\n".join(f"- {line}" for line in compare.reading(result)))


def draw_curves():
    st.subheader("Training on one time axis")
    floor = refs.get("train", {}).get("swd")
    st.plotly_chart(fig.curves_figure(result.curves, floor, result.config.budget if not result.config.steps else None,
                                      "Sample quality while training (lower is better)"), key="curves")
    st.caption(f"Every {result.config.budget / result.config.curve_points:g} s of training, "
               f"{result.config.curve_samples} samples of each model are compared with the held-out points (this "
               "measuring is not counted as training time).")
    st.plotly_chart(fig.loss_panels(result.curves, result.loss_labels), key="losses")
    st.caption("Each family's own training loss: four different quantities in four different units, which is why "
               "the table judges them by their samples and, where they have one, by the likelihood.")


wt.section("samples", draw_samples)
wt.section("table", draw_table)
wt.section("curves", draw_curves)

if result.config.data != "custom":  # your own points live in this session only
    ui.reproduce(snippets.compare(result.config, result.steps), "genlab_compare.py")
ui.show_code(compare.compare, compare.reading, compare.sample_measures)
