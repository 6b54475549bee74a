"""Text to image: Stable Diffusion's parts, small, trained here on captioned shapes; real Stable Diffusion where present."""
import json

import numpy as np
import streamlit as st

from core import shapes, snippets, ui
from core import text_to_image as t2i
from core.checkpoints import CheckpointError
from core.steps import text_to_image as text
from core.steps.text_to_image import DEFAULT_PROMPT, DEFAULT_SD, MODELS, SCALES, STEPS, VIEWS
from core.ui import text_to_image as app
from core.viz import text_to_image as fig

ui.require_router()

st.title("Text to image")
st.markdown(text.INTRO)

url = ui.url()
wt = ui.Walkthrough(STEPS, VIEWS)
SCHEDULERS = list(t2i.SCHEDULERS)


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
    pipe, reason = app.stable_diffusion(sd_name.strip())
    if pipe is None:
        # for the student, in plain words; the loader's own message (paths, exceptions, settings) is for whoever runs
        # the server. Both quote the visitor's text (the field, or a link's sd=): shown as typed, never as markdown.
        st.warning(f"This server has no usable Stable Diffusion weights for {ui.escape_md(sd_name.strip(), 120)}, so the "
                   "pictures below come from **GenLab mini**, the small model trained here. Everything on the page "
                   "works the same with it.", icon=":material/cloud_off:")
        with st.expander("For the server's operator", icon=":material/dns:"):
            st.markdown("Why it did not load: " + ui.escape_md(reason))
            st.markdown(text.OPERATOR_HELP)
    else:
        model_key = f"sd:{sd_name.strip()}"
if pipe is None:
    try:
        pipe = app.mini()
    except CheckpointError as e:
        st.error(f"The shipped GenLab mini pipeline could not be loaded: {e} Rebuild it with the commands in "
                 "`core/text_to_image.py` (about an hour on one CPU core).", icon=":material/error:")
        st.stop()
is_mini = t2i.is_mini(pipe)


def sampled() -> dict:
    """The images for the controls (and the predicted clean images along the way): only the views that show them
    run the sampler (cached, so the two views share one run)."""
    return app.busy(lambda: app.run(pipe, model_key, prompt, negative, scale, steps, scheduler, n_images, seed,
                             max(1, steps // 8)))


def guidance_rows() -> tuple:
    """The same seeds at every scale of SCALES (cached; computed through a server slot)."""
    return app.busy(lambda: app.tradeoff(pipe, model_key, prompt, negative, min(steps, 20), scheduler, seed))


def prompt_notes(rep: dict) -> None:
    """Say plainly what happened to an odd prompt."""
    if rep["empty"]:
        st.info(text.EMPTY_PROMPT, icon=":material/text_fields:")
    if rep["truncated"]:
        st.warning(f"The prompt is {rep['n_tokens']} tokens long; the tokenizer's limit is {rep['limit']}, so it was "
                   f"**truncated** to: *{ui.escape_md(rep['kept_text'])}*", icon=":material/content_cut:")
    if is_mini and rep["unknown_words"]:
        st.warning(app.unknown_words_note(pipe, model_key, rep["unknown_words"]), icon=":material/help:")
    if rep["unk_tokens"]:
        st.info(f"{rep['unk_tokens']} piece(s) of the prompt are characters the tokenizer cannot spell; they became "
                "the [UNK] token.", icon=":material/translate:")


# -------------------------------------------------------------------------------------------- sections

def draw_generate():
    st.subheader("Prompt in, pictures out")
    result = sampled()
    prompt_notes(result["report"])
    imgs = result["images"]
    read = app.seen(imgs) if is_mini else [""] * len(imgs)  # what the shapes reader sees: the judge, not the model
    cols_n = min(8, len(imgs))
    for start in range(0, len(imgs), cols_n):
        cols = st.columns(cols_n)
        for j, col in enumerate(cols):
            if start + j < len(imgs):
                col.image(fig.image_grid(imgs[start + j: start + j + 1], scale=6 if is_mini else 1),
                          caption=f"seed {seed + start + j}" + (f" · {text.SEEN.format(read[start + j])}" if is_mini else ""),
                          width="stretch", output_format="PNG")
    settings = {"model": model_key, "prompt": prompt, "negative_prompt": negative, "guidance_scale": scale,
                "steps": steps, "scheduler": scheduler, "seeds": [seed + i for i in range(len(imgs))]}
    st.caption(f"{len(imgs)} images, {steps} {scheduler} steps, guidance {scale:g}, in {result['seconds']:.2f} s "
               f"on {'one CPU thread' if is_mini else 'this device'} (first run; then cached). Image i comes from seed "
               f"{seed} + i alone: set that seed and 1 image to remake it (exactly with a deterministic scheduler).")
    if is_mini and (note := app.measured_note()):
        st.caption(note)
    a, b = st.columns(2)
    a.download_button("Download the images (PNG)", fig.to_png(fig.image_grid(imgs, ncols=8, scale=4 if is_mini else 1)),
                      file_name=f"genlab_t2i_seed{seed}.png", mime="image/png", icon=":material/download:",
                      width="stretch")
    b.download_button("Download their settings (JSON)", json.dumps(settings, indent=2), file_name=f"genlab_t2i_seed{seed}.json",
                      mime="application/json", icon=":material/data_object:", width="stretch")


def draw_encoder():
    st.subheader("The text encoder: one vector per token")
    tokens, states = app.token_states(pipe, model_key, prompt)
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
        new = shapes.unknown_words(prompt)[:12]
        if new:
            st.markdown("**Where the encoder puts the words no caption used** (cosine similarity of its sentence "
                        "embeddings to the captions' shape, colour and size words). This is all the model has of "
                        "them: a word well inside one meaning's neighbours (*giant*: *large*, *huge*, *big*) is "
                        "drawn as that; one that lands between meanings is a guess, and the U-Net, which reads every "
                        "token's state, may settle it either way.")
            st.dataframe(app.neighbours_table(pipe, model_key, new), hide_index=True, width="stretch")


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
        z = t2i.final_latents(pipe, prompt, negative, scale, min(steps, 10), scheduler, seed, n=2)
        st.image(fig.image_grid(fig.latent_channels(z), ncols=lat[0], scale=12), width=90 * lat[0],
                 caption=f"The final latents of seeds {seed} and {seed + 1} ({min(steps, 10)} steps): each row one image, "
                         f"its {lat[0]} channels of {lat[1]}x{lat[2]} (each scaled to its own range). The decoder turns "
                         f"these {int(np.prod(lat)):,} numbers into the {int(np.prod(img)):,} of a picture.", output_format="PNG")


def draw_tradeoff():
    st.subheader("Diversity against fidelity, measured")
    if not is_mini:
        st.info(text.NOT_MINI, icon=":material/info:")
        return
    rows, _ = guidance_rows()
    asked = shapes.parse(prompt)
    st.plotly_chart(fig.tradeoff_fig(rows, current=scale if scale <= 7.5 else None), key="tradeoff")
    held = [f"{th.colour} {th.shape}" for th in asked if (th.shape, th.colour) in shapes.HELD_OUT]
    if not asked:
        st.caption(text.NO_SHAPE)
    else:
        st.caption(text.FIDELITY + (f"Held out from training: {', '.join(held)}: the model never saw this combination."
                                    if held else "Every combination in this prompt occurred in training."))
    ui.table([{"scale": f"s = {r['scale']:g}", "fidelity (%)": 100 * r["fidelity"], "shape right (%)": 100 * r["shape"],
               "all right (%)": 100 * r["exact"], "variety (px)": r["variety"]} for r in rows], digits=1, index="scale")


wt.section("generate", draw_generate)
wt.section("encoder", draw_encoder)
wt.section("preview", draw_preview)
wt.section("guidance", draw_guidance)
wt.section("latent", draw_latent)
wt.section("tradeoff", draw_tradeoff)

ui.reproduce(snippets.text_to_image(t2i.MINI if model_key == t2i.MINI else sd_name.strip(), prompt, negative, scale,
                                   steps, n_images, seed, scheduler), "genlab_text_to_image.py")
ui.show_code(t2i.generate, t2i.train, shapes.read, shapes.fidelity)
