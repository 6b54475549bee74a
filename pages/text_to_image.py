"""Text to image: Stable Diffusion's parts, small, trained here on captioned shapes; real Stable Diffusion where present."""
import json
from contextlib import nullcontext

import numpy as np
import streamlit as st

from core import admission, shapes, snippets, ui
from core import text_to_image as t2i
from core.checkpoints import CheckpointError
from core.viz import text_to_image as fig

ui.require_router()

st.title("Text to image")
st.markdown(
    "Type a sentence, get a picture: the same parts as Stable Diffusion (a frozen text encoder, a U-Net whose "
    "cross-attention reads the text, a noise scheduler, classifier-free guidance and an autoencoder whose latent "
    "space the diffusion runs in), small enough to train on a laptop CPU. **GenLab mini** was trained here on "
    "32x32 pictures of circles, squares and triangles with captions such as *a small red circle in the top left*; "
    "some combinations (a green triangle, a blue circle, a yellow square) it has never seen. Where a real Stable "
    "Diffusion checkpoint is available, the same controls drive it."
)

STEPS = [
    ui.Step("Text-to-image as translation",
            r"p_\theta(\mathbf x\mid y)\quad y=\text{``a small red circle in the top left''}",
            "A conditional generative model: the caption $y$ is the source sentence, the image $\\mathbf x$ the "
            "translation. Unlike a translation there are many right answers, so we sample: every seed is another "
            "image that fits the same words.", "generate"),
    ui.Step("The text encoder",
            r"\mathbf c=\tau(y)\in\mathbb R^{L\times 384},\quad L=32\ \text{tokens}",
            "A pretrained sentence-transformer (all-MiniLM-L6-v2, a 6-layer BERT) turns the prompt into one vector per "
            "token. It stays frozen, as CLIP does in Stable Diffusion: it already knows that a *disc* is like a "
            "*circle*, so paraphrases the captions never used still steer the image.", "encoder"),
    ui.Step("Cross-attention conditioning",
            r"\mathrm{Attn}(Q,K,V)=\mathrm{softmax}\Big(\tfrac{QK^\top}{\sqrt d}\Big)V,\ Q=W_Q\,\varphi(\mathbf z_t),\ K=W_K\mathbf c,\ V=W_V\mathbf c",
            "Inside the U-Net every latent position asks (query) which tokens concern it (keys) and takes in their "
            "content (values). That is how *top left* and *red* reach the right place. Watch the predicted clean "
            "image $\\hat{\\mathbf x}_0$ form step by step: layout first, colours and edges later.", "preview"),
    ui.Step("Classifier-free guidance",
            r"\hat{\boldsymbol\epsilon}=\boldsymbol\epsilon_\theta(\mathbf z_t,\varnothing)+s\,\big(\boldsymbol\epsilon_\theta(\mathbf z_t,\mathbf c)-\boldsymbol\epsilon_\theta(\mathbf z_t,\varnothing)\big)",
            "During training the caption was replaced by the empty prompt 10 % of the time, so one network predicts "
            "the noise with and without the text. At sampling time their difference is the direction the text pushes "
            "in; $s=0$ ignores the prompt, $s=1$ is the plain conditional model, $s>1$ pushes further. A negative "
            "prompt takes the place of $\\varnothing$.", "guidance"),
    ui.Step("Latent diffusion",
            r"\mathbf z_0=\mathcal E(\mathbf x),\ \ \mathbf z_t=\sqrt{\bar\alpha_t}\,\mathbf z_0+\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon,\ \ \mathbf x=\mathcal D(\mathbf z_0)",
            "The diffusion runs on an autoencoder's compressed code, not on pixels: 4x8x8 numbers instead of 3x32x32 "
            "(Stable Diffusion: 4x64x64 for 3x512x512). The U-Net does all its steps there, the decoder runs once.",
            "latent"),
    ui.Step("Diversity against fidelity",
            r"s\uparrow\ \Rightarrow\ \text{fidelity}\uparrow,\ \text{diversity}\downarrow",
            "An evaluator that is not the model (a small classifier trained on the generated pictures) checks which "
            "of the asked-for attributes are in each image. More guidance buys fidelity with variety, as Ho & "
            "Salimans measured with FID against Inception score.", "tradeoff"),
]

url = ui.url()
# explore mode: one view at a time; the page opens on the pictures, the guidance trade-off (five more sampling
# runs) waits for its own view. No section draws a control of its own: every control is at the top.
VIEWS = [ui.View("Generate", ("generate",)),
         ui.View("Text encoder", ("encoder",)),
         ui.View("Denoising steps", ("preview",)),
         ui.View("Guidance scale", ("guidance", "tradeoff")),
         ui.View("Latent space", ("latent",))]
wt = ui.Walkthrough(STEPS, VIEWS)

MODELS = {"mini": "GenLab mini (trained here)", "sd": "Stable Diffusion (local folder or hub id)"}
DEFAULT_PROMPT = "a large red circle in the top left"
DEFAULT_SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SCALES = (0.0, 1.0, 2.0, 4.0, 7.0)
SCHEDULERS = list(t2i.SCHEDULERS)


# ---------------------------------------------------------------------------------------- cached pieces

@st.cache_resource(show_spinner="Loading GenLab mini (text encoder, U-Net, autoencoder)...")
def mini():
    return t2i.load_mini()


@st.cache_resource(max_entries=2, show_spinner="Loading the Stable Diffusion checkpoint...")
def stable_diffusion(name: str):
    """(pipeline, None) or (None, reason): failures are cached too, so a missing model is not retried per rerun."""
    try:
        return t2i.load_pipeline(name), None
    except CheckpointError as e:  # ModelUnavailable (refused, absent, unloadable) or a broken GenLab folder
        return None, str(e)


@st.cache_resource(show_spinner=False)
def evaluator():
    return t2i.AttributeEvaluator.load()


def evaluator_error():
    """None when the shipped attribute evaluator loads (checked like every checkpoint), else why not."""
    try:
        evaluator()
    except CheckpointError as e:
        return e
    return None


#: Image-steps (images x steps) a request may cost outside the server's slots: the page's default, 8 x 25.
#: Larger batches, the trade-off rows and real Stable Diffusion take a slot (core.admission) while they run;
#: a cached result takes none.
FREE_WORK = 8 * 25


@st.cache_data(max_entries=24, show_spinner="Generating (a large batch waits for a free slot on a busy server)...")
def run(_pipe, model_key: str, prompt: str, negative: str, scale: float, steps: int, scheduler: str, n: int, seed: int,
        every: int):
    heavy = not t2i.is_mini(_pipe) or n * steps > FREE_WORK
    with admission.gate().enter(f"text to image: {n} x {steps} steps", wait=300) if heavy else nullcontext():
        out = t2i.generate(_pipe, prompt, negative, scale, steps, n, seed, scheduler, preview_every=every)
    out["report"] = vars(out["report"])
    return out


@st.cache_data(max_entries=12, show_spinner="Sampling the same seeds at several guidance scales (on a busy server "
                                             "this waits for a free slot)...")
def tradeoff(_pipe, model_key: str, prompt: str, negative: str, steps: int, scheduler: str, seed: int, n: int = 8):
    rows, pics = [], {}
    with admission.gate().enter("text to image: the guidance rows", wait=300):
        for s in SCALES:
            imgs = t2i.generate(_pipe, prompt, negative, s, steps, n, seed, scheduler)["images"]
            pics[s] = imgs
            if t2i.is_mini(_pipe) and evaluator_error() is None:  # a broken evaluator: images, no fidelity
                f = evaluator().fidelity(imgs, prompt)
                rows.append({"scale": s, "fidelity": f["fidelity"], "exact": f["exact"], "diversity": f["diversity"]})
    return rows, pics


@st.cache_data(max_entries=8, show_spinner=False)
def token_states(_pipe, model_key: str, prompt: str):
    import torch

    tok = _pipe.tokenizer
    enc = t2i.tokenize(tok, [prompt])
    with torch.no_grad():
        c = _pipe.text_encoder(enc.input_ids.to(_pipe.text_encoder.device)).last_hidden_state if t2i.is_mini(_pipe) \
            else _pipe.text_encoder(enc.input_ids.to(_pipe.text_encoder.device))[0]
    return tok.convert_ids_to_tokens(enc.input_ids[0].tolist()), c[0].float().cpu().numpy()


# ---------------------------------------------------------------------------------------------- controls

with st.container(border=True):
    c = st.columns([1.3, 2.2])
    choice = url.radio("Model", list(MODELS), key="model", format_func=MODELS.get, container=c[0])
    sd_name = url.text("Stable Diffusion checkpoint (local folder or hub id)", DEFAULT_SD, key="sd", container=c[1],
                       disabled=choice != "sd", max_chars=300,
                       help="A folder with model_index.json, or an id such as stable-diffusion-v1-5/stable-diffusion-v1-5 "
                            "(needs internet the first time, then it loads from the cache).")
    prompt = url.text("Prompt", DEFAULT_PROMPT, key="prompt", icon=":material/edit:")
    negative = url.text("Negative prompt (replaces the empty prompt in guidance)", "", key="neg")
    c = st.columns([1.4, 1, 1.2, 1, 1, 0.9])
    scale = url.slider("Guidance scale s", 0.0, 20.0, 4.0, key="cfg", step=0.1, container=c[0],
                       help="0: ignore the prompt; 1: the plain conditional model; above 1: push harder toward the prompt.")
    steps = url.slider("Steps", 1, 100, 25, key="steps", container=c[1])
    scheduler = url.selectbox("Scheduler", SCHEDULERS, key="sched", index=SCHEDULERS.index("DDIM"), container=c[2],
                              help="Any diffusers scheduler, built with from_config from the same training schedule.")
    n_images = url.slider("Images", 1, 16, 8, key="n", container=c[3])
    seed = ui.seed_input(container=c[4])
    c[5].button("New seed", icon=":material/casino:", key="new_seed", width="stretch",
                on_click=lambda: st.session_state.update(seed=int(np.random.default_rng().integers(0, 2**31 - 1))))

pipe, model_key = None, t2i.MINI
if choice == "sd":
    pipe, reason = stable_diffusion(sd_name.strip())
    if pipe is None:
        # for the student, in plain words; the loader's own message (paths, exceptions, settings) is for whoever runs
        # the server. Both quote the visitor's text (the field, or a link's sd=): shown as typed, never as markdown.
        st.warning(f"This server has no usable Stable Diffusion weights for {ui.escape_md(sd_name.strip(), 120)}, so the "
                   "pictures below come from **GenLab mini**, the small model trained here. Everything on the page "
                   "works the same with it.", icon=":material/cloud_off:")
        with st.expander("For the server's operator", icon=":material/dns:"):
            st.markdown("Why it did not load: " + ui.escape_md(reason))
            st.markdown("Real Stable Diffusion needs its weights (several GB; a GPU makes it usable) in `models/`, in "
                        "the Hugging Face cache or in a folder listed in `GENLAB_SD_DIRS`; to let the server download "
                        "a hub id itself, start it with `GENLAB_ALLOW_SD_DOWNLOAD=1` and internet access.")
    else:
        model_key = f"sd:{sd_name.strip()}"
if pipe is None:
    try:
        pipe = mini()
    except CheckpointError as e:
        st.error(f"The shipped GenLab mini pipeline could not be loaded: {e} Rebuild it with the commands in "
                 "`core/text_to_image.py` (about an hour on one CPU core).", icon=":material/error:")
        st.stop()
is_mini = t2i.is_mini(pipe)


def _busy(fn):
    try:
        return fn()
    except admission.Busy:
        st.error("The server is busy: no slot freed up in 5 minutes for this batch. Try again later, or ask for fewer "
                 "images or steps.", icon=":material/hourglass_disabled:")
        st.stop()


def sampled() -> dict:
    """The images for the controls (and the predicted clean images along the way): only the views that show them
    run the sampler (cached, so the two views share one run)."""
    return _busy(lambda: run(pipe, model_key, prompt, negative, scale, steps, scheduler, n_images, seed,
                             max(1, steps // 8)))


def guidance_rows() -> tuple:
    """The same seeds at every scale of SCALES (cached; computed through a server slot)."""
    return _busy(lambda: tradeoff(pipe, model_key, prompt, negative, min(steps, 20), scheduler, seed))


def prompt_notes(rep: dict) -> None:
    """Say plainly what happened to an odd prompt."""
    if rep["empty"]:
        st.info("The prompt is empty, so these images are **unconditional**: the U-Net sees the empty prompt's "
                "token states in both branches and draws whatever the training images looked like.",
                icon=":material/text_fields:")
    if rep["truncated"]:
        st.warning(f"The prompt is {rep['n_tokens']} tokens long; the tokenizer's limit is {rep['limit']}, so it was "
                   f"**truncated** to: *{ui.escape_md(rep['kept_text'])}*", icon=":material/content_cut:")
    if is_mini and rep["unknown_words"]:
        words = ", ".join(f"*{ui.escape_md(w, 40)}*" for w in rep["unknown_words"][:20])
        st.warning(f"Words no training caption used: {words}. The frozen text encoder still maps them somewhere "
                   "(near words with similar meaning), but the model was never shown what they look like.",
                   icon=":material/help:")
    if rep["unk_tokens"]:
        st.info(f"{rep['unk_tokens']} piece(s) of the prompt are characters the tokenizer cannot spell; they became "
                "the [UNK] token.", icon=":material/translate:")


# -------------------------------------------------------------------------------------------- sections

def draw_generate():
    st.subheader("Prompt in, pictures out")
    result = sampled()
    prompt_notes(result["report"])
    imgs = result["images"]
    cols_n = min(8, len(imgs))
    for start in range(0, len(imgs), cols_n):
        cols = st.columns(cols_n)
        for j, col in enumerate(cols):
            if start + j < len(imgs):
                col.image(fig.image_grid(imgs[start + j: start + j + 1], scale=6 if is_mini else 1),
                          caption=f"seed {seed + start + j}", width="stretch", output_format="PNG")
    settings = {"model": model_key, "prompt": prompt, "negative_prompt": negative, "guidance_scale": scale,
                "steps": steps, "scheduler": scheduler, "seeds": [seed + i for i in range(len(imgs))]}
    st.caption(f"{len(imgs)} images, {steps} {scheduler} steps, guidance {scale:g}, in {result['seconds']:.2f} s "
               f"on {'one CPU thread' if is_mini else 'this device'} (first run; then cached). Image i comes from seed "
               f"{seed} + i alone: set that seed and 1 image to remake it (exactly with a deterministic scheduler).")
    a, b = st.columns(2)
    a.download_button("Download the images (PNG)", fig.to_png(fig.image_grid(imgs, ncols=8, scale=4 if is_mini else 1)),
                      file_name=f"genlab_t2i_seed{seed}.png", mime="image/png", icon=":material/download:",
                      width="stretch")
    b.download_button("Download their settings (JSON)", json.dumps(settings, indent=2), file_name=f"genlab_t2i_seed{seed}.json",
                      mime="application/json", icon=":material/data_object:", width="stretch")


def draw_encoder():
    st.subheader("The text encoder: one vector per token")
    tokens, states = token_states(pipe, model_key, prompt)
    used = sum(1 for tk in tokens if tk not in ("[PAD]", "<|endoftext|>")) or 1
    st.plotly_chart(fig.token_states_fig(tokens, states), key="tokens")
    st.caption(f"Token states c = τ(prompt): shape {states.shape[0]} x {states.shape[1]} (tokens x features), "
               f"{used} of them from the prompt, the rest padding, as Stable Diffusion pads CLIP's to 77. The U-Net "
               "reads all of them through cross-attention; the encoder is frozen (never trained here).")
    if is_mini:
        said = shapes.parse(prompt)
        if said:
            st.caption("What the captions' vocabulary reads in this prompt: " + "; ".join(
                ", ".join(f"{k} **{getattr(th, k)}**" for k in ("shape", "colour", "size", "position")
                          if getattr(th, k)) for th in said) + ".")


def draw_preview():
    st.subheader("Watching the image form: the predicted clean image every few steps")
    result = sampled()
    previews = result["previews"]
    if not previews:
        st.info("No intermediate steps to show.", icon=":material/info:")
        return
    k = min(4, len(result["images"]))
    cols = st.columns(len(previews))
    for col, (i, t, imgs) in zip(cols, previews):
        col.image(fig.image_grid(imgs[:k], ncols=1, scale=4 if is_mini else 1), caption=f"step {i}, t={t}",
                  width="stretch", output_format="PNG")
    what = ("the predicted clean image x̂₀ = (z_t − √(1−ᾱ_t) ε̂)/√ᾱ_t, decoded by the autoencoder"
            if is_mini else "the current latents z_t decoded (Stable Diffusion's callback gives no noise prediction)")
    st.caption(f"Columns: every {max(1, steps // 8)} of the {steps} steps, {what}; rows: the first {k} images above.")


def draw_guidance():
    st.subheader("Classifier-free guidance: same seeds, several scales")
    rows, pics = guidance_rows()
    k = min(4, len(next(iter(pics.values()))))
    grid = np.stack([pics[s][i] for i in range(k) for s in SCALES])  # rows: seeds, columns: scales
    st.image(fig.image_grid(grid, ncols=len(SCALES), scale=4 if is_mini else 1), width=110 * len(SCALES),
             output_format="PNG")
    st.caption(f"Columns: guidance scale s = {', '.join(f'{s:g}' for s in SCALES)}. Rows: seeds {seed} to "
               f"{seed + k - 1}, the same starting noise across each row, {min(steps, 20)} {scheduler} steps. s = 0 is "
               "the unconditional model (the prompt is ignored), s = 1 the plain conditional one.")


def draw_latent():
    st.subheader("Under the hood: the parts and the latent space")
    info = t2i.shapes_summary(pipe)
    a, b = st.columns([3, 2])
    with a:
        st.plotly_chart(fig.parts_fig(t2i.describe(pipe)), key="parts")
    with b:
        lat, img = info["latent"], info["image"]
        ui.table([{"": "token states", "shape": f"{info['tokens']} x {info['token_dim']}", "numbers": info['tokens'] * info['token_dim']},
                  {"": "latent z", "shape": " x ".join(map(str, lat)), "numbers": int(np.prod(lat))},
                  {"": "image x", "shape": " x ".join(map(str, img)), "numbers": int(np.prod(img))}], index="")
        st.caption(f"The U-Net denoises {int(np.prod(lat)):,} numbers per image instead of {int(np.prod(img)):,} "
                   f"({np.prod(img) / np.prod(lat):.0f}x fewer); the decoder runs once at the end. Scheduler now: "
                   f"{type(t2i.with_scheduler(pipe, scheduler).scheduler).__name__}.")
    if is_mini:
        import torch

        out = t2i.with_scheduler(pipe, scheduler)
        with torch.no_grad():
            z = out(prompt=prompt, negative_prompt=negative, guidance_scale=scale, num_inference_steps=min(steps, 10),
                    num_images_per_prompt=2, latents=t2i.initial_latents(pipe, 2, seed), output_type="latent").images
        st.image(fig.image_grid(fig.latent_channels(z.float().numpy()), ncols=lat[0], scale=12), width=90 * lat[0],
                 caption=f"The final latents of seeds {seed} and {seed + 1} ({min(steps, 10)} steps): each row one image, "
                         f"its {lat[0]} channels of {lat[1]}x{lat[2]} (each scaled to its own range). The decoder turns "
                         "these 256 numbers into the 3,072 of a picture.", output_format="PNG")


def draw_tradeoff():
    st.subheader("Diversity against fidelity, measured")
    if not is_mini:
        st.info("The evaluator only knows the shapes world GenLab mini was trained on, so it measures GenLab mini "
                "only. The images at several scales are above.", icon=":material/info:")
        return
    rows, _ = guidance_rows()
    problem = evaluator_error()
    if problem is not None:
        st.warning(f"The shipped attribute evaluator could not be loaded, so fidelity is not measured: {problem} "
                   "The images at several scales are above.", icon=":material/error:")
        return
    asked = shapes.parse(prompt)
    st.plotly_chart(fig.tradeoff_fig(rows, current=scale if scale <= 7.5 else None), key="tradeoff")
    held = [f"{th.colour} {th.shape}" for th in asked if (th.shape, th.colour) in shapes.HELD_OUT]
    if not asked:
        st.caption("This prompt names no shape the evaluator knows, so only diversity is measured (fidelity is "
                   "undefined). Try one such as *a big green square at the bottom*.")
    else:
        st.caption("Fidelity: share of the attributes the prompt asks for (shape, colour, and size and position where "
                   "named) that the evaluator finds, over 8 images per scale with the seeds above. Diversity: mean "
                   "distance between the evaluator's features of those images. "
                   + (f"Held out from training: {', '.join(held)}: the model never saw this combination."
                      if held else "Every combination in this prompt occurred in training."))
    ui.table([{**r, "scale": f"s = {r['scale']:g}"} for r in rows], digits=3, index="scale")


wt.section("generate", draw_generate)
wt.section("encoder", draw_encoder)
wt.section("preview", draw_preview)
wt.section("guidance", draw_guidance)
wt.section("latent", draw_latent)
wt.section("tradeoff", draw_tradeoff)

ui.reproduce(snippets.text_to_image(t2i.MINI if model_key == t2i.MINI else sd_name.strip(), prompt, negative, scale,
                                   steps, n_images, seed, scheduler), "genlab_text_to_image.py")
ui.show_code(t2i.generate, t2i.train, t2i.AttributeEvaluator.fidelity)
