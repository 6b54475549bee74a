"""The text-to-image page's app layer: Streamlit's caches over core.text_to_image (the pipelines and each view's
numbers, keyed by the widgets' values), and the server's slots for heavy batches."""
from __future__ import annotations

from contextlib import nullcontext

import streamlit as st

from core import admission, shapes
from core import text_to_image as t2i
from core.checkpoints import CheckpointError
from core.steps.text_to_image import MEASURED, SCALES, UNKNOWN, WHY
from core.text import escape_md


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


@st.cache_data(show_spinner=False)
def measured() -> dict:
    """The shipped pipeline's measured numbers (its genlab.json); {} when it has none or cannot be read."""
    try:
        return t2i.measured()
    except CheckpointError:
        return {}


def measured_note() -> str:
    """The shipped pipeline's measured numbers in a sentence ('' when none are recorded)."""
    m = measured()
    if not {"settings", "command", "shape", "variety", "words"} <= set(m):
        return ""
    words = sorted(m["words"].items(), key=lambda kv: -kv[1])
    good = ", ".join(f"*{w}* {v:.0f} %" for w, v in words if v >= 90) or "none"
    bad = ", ".join(f"*{w}* {v:.0f} %" for w, v in words if v < 90) or "none"
    missed = [(w, e) for w, v in words if v < 90 and (e := m.get("encoder", {}).get(w))]  # bench --parts encoder
    why = WHY.format(lost=", ".join(
        [f"*{w}* nearer *{e['nearest']}* than any {e['means']} word" for w, e in missed if e["margin"] < 0]
        + [f"*{w}* barely nearer ({e['margin']:+.2f})" for w, e in missed if e["margin"] >= 0])) if missed else ""
    return MEASURED.format(settings=m["settings"], command=m["command"], good=good, bad=bad, why=why, **m["shape"],
                           **{k: m["variety"][k] for k in ("default", "data")})


@st.cache_data(max_entries=64, show_spinner=False)
def neighbours(_pipe, model_key: str, words: tuple) -> list[dict]:
    """Where the pipeline's frozen encoder puts each word among the captions' words (core.text_to_image)."""
    return t2i.nearest_caption_words(_pipe.text_encoder, _pipe.tokenizer, list(words))


def neighbours_table(pipe, model_key: str, words: list) -> list[dict]:
    """One row per word: its three nearest caption words, each with what it means and the similarity."""
    return [{"word": r["word"], **{f"{rank} nearest": f"{n['word']} ({n['value']}) {n['similarity']:.2f}"
                                   for rank, n in zip(("1st", "2nd", "3rd"), r["nearest"])}}
            for r in neighbours(pipe, model_key, tuple(words))]


def unknown_words_note(pipe, model_key: str, words: list) -> str:
    """The warning for words no caption used, with the caption words the encoder puts each one nearest."""
    words = list(words)[:20]
    near = "; ".join(f"*{escape_md(r['word'], 40)}* → " + ", ".join(f"*{n['word']}* {n['similarity']:.2f}"
                                                            for n in r["nearest"][:2])
                     for r in neighbours(pipe, model_key, tuple(words[:8])))  # the first 8: a note, not a table
    return UNKNOWN.format(words=", ".join(f"*{escape_md(w, 40)}*" for w in words), near=near)


@st.cache_data(max_entries=64, show_spinner=False)
def seen(images) -> list[str]:
    """What the shapes reader sees in each picture, in words."""
    return [shapes.describe([b.thing for b in blobs]) for blobs in shapes.read_images(images)]


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
    with admission.gate().enter("text to image: the guidance rows", wait=300):
        # the reader knows only the shapes world: it measures GenLab mini's pictures, real Stable Diffusion's are shown
        return t2i.guidance_rows(_pipe, prompt, negative, steps, scheduler, seed, SCALES, n, measure=t2i.is_mini(_pipe))


@st.cache_data(max_entries=8, show_spinner=False)
def token_states(_pipe, model_key: str, prompt: str):
    return t2i.token_states(_pipe, prompt)


def busy(fn):
    """``fn()``, or when no server slot freed up for it, a message and the end of this run."""
    try:
        return fn()
    except admission.Busy:
        st.error("The server is busy: no slot freed up in 5 minutes for this batch. Try again later, or ask for fewer "
                 "images or steps.", icon=":material/hourglass_disabled:")
        st.stop()
