"""Captioned shapes: the procedural image-caption set the text-to-image model is trained on.

Every image is ``SIZE x SIZE`` RGB (uint8) on a dark background and holds one or two shapes. Each shape has
four attributes drawn independently:

    shape     circle, square, triangle
    colour    red, green, blue, yellow, purple
    size      small, large
    position  a cell of a 3x3 grid: top left, top, top right, left, center, right, bottom left, bottom, bottom right

and small jitter (centre +-1 px, extent +-0.5 px, colour +-12 per channel) so one caption has many images.
Two shapes sit in cells at least two apart (Chebyshev distance on the grid), so they never touch.

Captions are drawn from several templates and synonyms ("a small red circle in the top left",
"top-left: a little crimson disc", ...), so the model must read the words rather than memorise strings.
Some (shape, colour) pairs are **held out**: no training image or caption ever shows them (``HELD_OUT``).
Asking for "a green triangle" therefore tests whether the model composes attributes it only saw apart.

``parse`` reads a prompt back into attributes (the same synonym tables), which the attribute evaluator
uses to score prompt fidelity, and ``unknown_words`` lists the words the training captions never used.
Everything is drawn from ``numpy.random.default_rng(seed)``: equal seeds give equal data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

SIZE = 32  # image side in pixels
SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow", "purple")
SIZES = ("small", "large")
POSITIONS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
RGB = {"red": (225, 45, 45), "green": (45, 185, 65), "blue": (55, 95, 235), "yellow": (235, 215, 45),
       "purple": (160, 65, 215)}
BACKGROUND = (18, 18, 26)
HALF_EXTENT = {"small": 3.5, "large": 6.0}  # half-width of a shape in pixels
CELL_CENTERS = (6.0, 16.0, 26.0)              # pixel centres of the grid's rows / columns

#: (shape, colour) pairs that never occur in training: asking for them tests composition.
HELD_OUT = (("triangle", "green"), ("circle", "blue"), ("square", "yellow"))

# ---- words: synonyms the captions use (first entry is the canonical name)
SHAPE_WORDS = {
    "circle": ("circle", "disc", "disk", "dot", "ball", "round blob"),
    "square": ("square", "box", "block", "tile"),
    "triangle": ("triangle", "wedge", "pyramid"),
}
COLOUR_WORDS = {
    "red": ("red", "crimson", "scarlet"),
    "green": ("green", "emerald", "lime"),
    "blue": ("blue", "azure", "cobalt"),
    "yellow": ("yellow", "golden", "lemon"),
    "purple": ("purple", "violet", "lilac"),
}
SIZE_WORDS = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big", "huge"),
}
# phrases for a position: "in the {x}" forms and short "{x}:" prefixes
POSITION_PHRASES = {
    "top left": ("in the top left", "in the upper left corner", "at the top left", "top-left"),
    "top": ("at the top", "at the top middle", "in the upper middle", "top-center"),
    "top right": ("in the top right", "in the upper right corner", "at the top right", "top-right"),
    "left": ("on the left", "at the middle left", "on the left side", "middle-left"),
    "center": ("in the center", "in the middle", "in the centre", "center"),
    "right": ("on the right", "at the middle right", "on the right side", "middle-right"),
    "bottom left": ("in the bottom left", "in the lower left corner", "at the bottom left", "bottom-left"),
    "bottom": ("at the bottom", "at the bottom middle", "in the lower middle", "bottom-center"),
    "bottom right": ("in the bottom right", "in the lower right corner", "at the bottom right", "bottom-right"),
}
FILLER_WORDS = ("a", "an", "the", "there", "is", "and", "with", "of", "picture", "image", "shows", "one",
                "in", "on", "at", "side", "corner", "middle")

ONE_TEMPLATES = (
    "a {size} {colour} {shape} {pos}",
    "{pos_short}: a {size} {colour} {shape}",
    "there is a {size} {colour} {shape} {pos}",
    "{size} {colour} {shape}, {pos_short}",
    "a {colour} {shape} {pos}",
    "an image of a {size} {colour} {shape} {pos}",
    "a {size} {colour} {shape}",
)
TWO_TEMPLATES = (
    "{a} and {b}",
    "{a}, {b}",
    "{a} with {b}",
)


@dataclass(frozen=True)
class Thing:
    """One shape in an image (canonical attribute names; any may be None in a parsed prompt)."""
    shape: str | None
    colour: str | None
    size: str | None = None
    position: str | None = None


def cell(position: str) -> tuple[int, int]:
    """(row, column) of a named grid position."""
    i = POSITIONS.index(position)
    return i // 3, i % 3


def _far(p: str, q: str) -> bool:
    (r1, c1), (r2, c2) = cell(p), cell(q)
    return max(abs(r1 - r2), abs(c1 - c2)) >= 2


def _draw(canvas: np.ndarray, thing: Thing, rng: np.random.Generator, ss: int = 4) -> None:
    """Paint ``thing`` onto ``canvas`` (float RGB, SIZE x SIZE) with ss x ss supersampled anti-aliasing."""
    r, c = cell(thing.position)
    cy = CELL_CENTERS[r] + rng.uniform(-1, 1)
    cx = CELL_CENTERS[c] + rng.uniform(-1, 1)
    h = HALF_EXTENT[thing.size] + rng.uniform(-0.5, 0.5)
    colour = np.clip(np.array(RGB[thing.colour], float) + rng.uniform(-12, 12, 3), 0, 255)
    g = (np.arange(SIZE * ss) + 0.5) / ss
    y, x = np.meshgrid(g, g, indexing="ij")
    dy, dx = y - cy, x - cx
    if thing.shape == "circle":
        mask = dx ** 2 + dy ** 2 <= (h * 1.05) ** 2
    elif thing.shape == "square":
        mask = (np.abs(dx) <= h * 0.85) & (np.abs(dy) <= h * 0.85)
    else:  # triangle pointing up: apex at (cy - h), base at (cy + h)
        mask = (dy <= h) & (dy >= -h) & (np.abs(dx) <= (dy + h) / 2 * 1.1)
    cover = mask.reshape(SIZE, ss, SIZE, ss).mean(axis=(1, 3))[..., None]
    canvas *= 1 - cover
    canvas += cover * colour


def render(things: list[Thing], seed: int = 0) -> np.ndarray:
    """Draw ``things`` (full attributes) into one uint8 image of shape (SIZE, SIZE, 3)."""
    rng = np.random.default_rng(seed)
    canvas = np.ones((SIZE, SIZE, 3)) * np.array(BACKGROUND, float)
    for t in things:
        _draw(canvas, t, rng)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def _allowed(shape: str, colour: str, held_out: bool) -> bool:
    return held_out or (shape, colour) not in HELD_OUT


def random_thing(rng: np.random.Generator, held_out: bool = False, avoid: str | None = None) -> Thing:
    """A random shape; ``held_out=False`` never returns a HELD_OUT (shape, colour) pair."""
    while True:
        s, c = SHAPES[rng.integers(len(SHAPES))], COLOURS[rng.integers(len(COLOURS))]
        if _allowed(s, c, held_out):
            break
    positions = [p for p in POSITIONS if avoid is None or _far(p, avoid)]
    return Thing(s, c, SIZES[rng.integers(len(SIZES))], positions[rng.integers(len(positions))])


def _phrase(t: Thing, rng: np.random.Generator, template: str | None = None) -> str:
    pick = lambda xs: xs[rng.integers(len(xs))]  # noqa: E731
    pos = POSITION_PHRASES[t.position]
    template = template or pick(ONE_TEMPLATES)
    text = template.format(size=pick(SIZE_WORDS[t.size]), colour=pick(COLOUR_WORDS[t.colour]),
                           shape=pick(SHAPE_WORDS[t.shape]), pos=pick(pos[:3]), pos_short=pos[3])
    return text


def caption(things: list[Thing], rng: np.random.Generator) -> str:
    """A random caption for ``things`` from the templates and synonyms. Two-shape captions always name both
    positions (otherwise the caption would not say which is where)."""
    if len(things) == 1:
        return _phrase(things[0], rng)
    a, b = (_phrase(t, rng, "a {size} {colour} {shape} {pos}") for t in things)
    return TWO_TEMPLATES[rng.integers(len(TWO_TEMPLATES))].format(a=a, b=b)


def canonical(things: list[Thing]) -> str:
    """The plain caption with canonical words, e.g. 'a small red circle in the top left'."""
    return " and ".join(f"a {t.size} {t.colour} {t.shape} in the {t.position}" if t.position
                        else f"a {t.size or ''} {t.colour or ''} {t.shape or 'shape'}".replace("  ", " ")
                        for t in things)


def dataset(n: int, seed: int = 0, two_share: float = 0.3, held_out: bool = False):
    """``n`` captioned images: returns ``(images uint8 (n, SIZE, SIZE, 3), captions list[str], things list[list[Thing]])``.

    A share ``two_share`` of the images hold two shapes. ``held_out=False`` (training) never shows a HELD_OUT pair.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    caps, all_things = [], []
    for i in range(n):
        first = random_thing(rng, held_out)
        two = rng.random() < two_share and first.position != "center"  # nothing is two cells from the centre
        things = [first, random_thing(rng, held_out, avoid=first.position)] if two else [first]
        images[i] = render(things, seed=int(rng.integers(2 ** 31)))
        caps.append(caption(things, rng))
        all_things.append(things)
    return images, caps, all_things


def to_tensor_range(images: np.ndarray) -> np.ndarray:
    """uint8 (n, H, W, 3) -> float32 (n, 3, H, W) in [-1, 1] (the models' range)."""
    return (images.astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0)


def to_uint8(x) -> np.ndarray:
    """float (n, 3, H, W) in [-1, 1] (numpy or torch) -> uint8 (n, H, W, 3)."""
    x = np.asarray(x.detach().float().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
    return np.clip(np.round((x.transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255).astype(np.uint8)


# ---- reading prompts back ------------------------------------------------------------------------------

def _lookup() -> list[tuple[str, str, str]]:
    """(phrase, kind, canonical) sorted longest phrase first, so 'top left' wins over 'top'."""
    rows = []
    for kind, table in (("shape", SHAPE_WORDS), ("colour", COLOUR_WORDS), ("size", SIZE_WORDS)):
        for canon, words in table.items():
            rows += [(w, kind, canon) for w in words]
    for canon, phrases in POSITION_PHRASES.items():
        rows += [(p.replace("-", " "), "position", canon) for p in phrases]
        rows += [(canon, "position", canon)]
        for prefix in ("in the ", "at the ", "on the "):  # bare forms: "upper left corner", "middle left" ...
            rows += [(p[len(prefix):], "position", canon) for p in phrases if p.startswith(prefix)]
    rows = sorted(set(rows), key=lambda r: -len(r[0]))
    return rows


_LOOKUP = _lookup()


def _normalise(prompt: str) -> str:
    text = str(prompt).lower().replace("-", " ").replace("centre", "center")
    return " " + re.sub(r"[^a-z ]+", " ", text) + " "


def parse(prompt: str) -> list[Thing]:
    """The shapes a prompt asks for, in order: each shape word closes one Thing with the colour, size and
    position words found since the previous shape (and a position right after it, as in 'a red circle in the
    top left'). Words it does not know are ignored; a prompt without shape words gives []."""
    text = _normalise(prompt)
    spans = []  # (start, end, kind, canonical)
    taken = np.zeros(len(text), bool)
    for phrase, kind, canon in _LOOKUP:
        for m in re.finditer(r"(?<= )" + re.escape(phrase) + r"(?= )", text):
            if not taken[m.start():m.end()].any():
                taken[m.start():m.end()] = True
                spans.append((m.start(), kind, canon))
    spans.sort()
    things, pending = [], {}
    for _, kind, canon in spans:
        if kind == "shape":
            things.append(dict(pending, shape=canon))
            pending = {}
        elif kind == "position" and things and "position" not in things[-1] and not pending:
            things[-1]["position"] = canon  # "a red circle in the top left"
        else:
            pending[kind] = canon
    if things and pending.get("position") and "position" not in things[-1]:
        things[-1]["position"] = pending["position"]
    return [Thing(t.get("shape"), t.get("colour"), t.get("size"), t.get("position")) for t in things]


def vocabulary() -> set[str]:
    """Every word any training caption can use."""
    words = set(FILLER_WORDS)
    for phrase, _, _ in _LOOKUP:
        words.update(phrase.split())
    for t in ONE_TEMPLATES + TWO_TEMPLATES:
        words.update(w for w in re.sub(r"\{[a-z_]+\}|[^a-z{}_ ]", " ", t).split())
    return words


_VOCAB = vocabulary()


def unknown_words(prompt: str) -> list[str]:
    """Words in ``prompt`` that no training caption uses (lower-cased, in order, without repeats)."""
    out = []
    for w in re.findall(r"[^\W\d_]+|\d+", str(prompt).lower().replace("centre", "center")):
        if w not in _VOCAB and w not in out:
            out.append(w)
    return out
