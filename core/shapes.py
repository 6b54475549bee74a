"""Captioned shapes: the procedural image-caption set the text-to-image model is trained on.

Every image is ``SIZE x SIZE`` RGB (uint8) on a dark background and holds one or two shapes. Each shape has
four attributes drawn independently:

    shape     circle, square, triangle
    colour    red, green, blue, yellow, purple
    size      small, large
    position  a cell of a 3x3 grid: top left, top, top right, left, center, right, bottom left, bottom, bottom right

and visible variety in what a caption leaves open, so one caption has many images: the exact place (centre +-2 px
inside its cell, kept inside the frame), the size within its word (``SIZE_RANGE``), and the shade (brightness x0.8 to
x1.1, +-10 per channel). Two shapes sit in cells at least two apart (Chebyshev distance on the grid), so they never
touch.

Captions are drawn from several templates and synonyms ("a small red circle in the top left",
"top-left: a little crimson disc", ...), so the model must read the words rather than memorise strings.
Some (shape, colour) pairs are **held out**: no training image or caption ever shows them (``HELD_OUT``).
Asking for "a green triangle" therefore tests whether the model composes attributes it only saw apart.

``parse`` reads a prompt back into attributes (the same synonym tables), and ``unknown_words`` lists the words the
training captions never used. ``read`` reads a picture back into attributes from its pixels alone (no training, no
captions): ``fidelity`` compares that with a prompt, ``variety`` measures how far the pictures of one prompt spread
in what it leaves open, and ``prompt_sets`` holds the test prompts (training grammar, paraphrases in words the
captions never use, held-out pairs). Everything is drawn from ``numpy.random.default_rng(seed)``: equal seeds give
equal data.
"""
from __future__ import annotations

import math
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
SIZE_RANGE = {"small": (2.75, 4.0), "large": (5.25, 6.75)}  # half-width h of a shape in pixels, drawn uniformly
CELL_CENTERS = (6.0, 16.0, 26.0)              # pixel centres of the grid's rows / columns
JITTER = 2.0                                  # centre offset within the cell, pixels (uniform in +-JITTER)
SHADE = (0.8, 1.1)                            # brightness factor of the colour, drawn uniformly
REACH = {"circle": 1.05, "square": 0.85, "triangle": 1.1}  # how far a shape reaches from its centre, in units of h

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


def _draw(canvas: np.ndarray, thing: Thing, rng: np.random.Generator, ss: int = 4) -> np.ndarray:
    """Paint ``thing`` onto ``canvas`` (float RGB, SIZE x SIZE) with ss x ss supersampled anti-aliasing; returns
    the share of each pixel it covers (SIZE x SIZE in [0, 1])."""
    r, c = cell(thing.position)
    h = rng.uniform(*SIZE_RANGE[thing.size])
    margin = REACH[thing.shape] * h + 0.5                       # the whole shape stays inside the frame
    cy = float(np.clip(CELL_CENTERS[r] + rng.uniform(-JITTER, JITTER), margin, SIZE - margin))
    cx = float(np.clip(CELL_CENTERS[c] + rng.uniform(-JITTER, JITTER), margin, SIZE - margin))
    colour = np.clip(np.array(RGB[thing.colour], float) * rng.uniform(*SHADE) + rng.uniform(-10, 10, 3), 0, 255)
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
    return cover[..., 0]


def render(things: list[Thing], seed: int = 0, masks: bool = False):
    """Draw ``things`` (full attributes) into one uint8 image of shape (SIZE, SIZE, 3). ``masks=True`` also returns
    each thing's true outline: a bool (len(things), SIZE, SIZE) of the pixels it covers at least half of."""
    rng = np.random.default_rng(seed)
    canvas = np.ones((SIZE, SIZE, 3)) * np.array(BACKGROUND, float)
    covers = [_draw(canvas, t, rng) for t in things]
    image = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return (image, np.array(covers).reshape(len(things), SIZE, SIZE) >= 0.5) if masks else image


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


# ---- reading pictures back: the judge that is not the model ------------------------------------------------
#
# A rule on the pixels alone (no training, no captions): it finds each blob that stands out from the background,
# outlines it at half its own contrast, and reads
#   shape     from the outline: a triangle (apex up) holds far less of its area in its upper half than in its lower
#             half (1 : 3); of the rest, a square fills the box of its widest row and tallest column (fill ~1), a circle
#             about pi / 4 of it (areas and widths from each pixel's share of the blob, so anti-aliased edges count
#             by the part they cover);
#   colour    the palette colour whose direction from the background is nearest the blob's mean colour (cosine);
#   size      h = sqrt(area / the shape's area per h^2), "large" above the gap between the two size ranges;
#   position  the grid cell of the bounding box's centre;
# and keeps the blob's centre, h and shade (brightness against the palette colour) for the variety measures.

MIN_AREA = 6              # pixels: a blob smaller than this is a speck, not a shape
SPECK_CONTRAST = 40.0     # RGB distance from the background above which a pixel belongs to some blob
TRIANGLE_BELOW = 0.6      # upper-half / lower-half pixel ratio below which a blob is a triangle (ideal 1/3; others 1)
SQUARE_ABOVE = 0.9        # fill above which a blob is a square (ideal 1; circle pi/4 = 0.785)
AREA_PER_H2 = {"circle": math.pi * REACH["circle"] ** 2, "square": (2 * REACH["square"]) ** 2,
               "triangle": 2 * REACH["triangle"]}  # a shape's area in units of h^2
LARGE_ABOVE = (SIZE_RANGE["small"][1] + SIZE_RANGE["large"][0]) / 2  # h between the two ranges
_DIRECTIONS = {c: np.array(v, float) - BACKGROUND for c, v in RGB.items()}  # each palette colour seen from the background


@dataclass(frozen=True)
class Seen:
    """One blob the reader found: its Thing (canonical words) and the continuous values behind them."""
    thing: Thing
    y: float                 # centre of the bounding box, pixels
    x: float
    h: float                 # half-width estimated from the area and the shape
    shade: float             # brightness against the palette colour (1 = as drawn at shade 1)
    fill: float              # area / (widest row x tallest column), from each pixel's covered share
    top_share: float         # upper-half pixels / lower-half pixels
    mask: np.ndarray         # bool (SIZE, SIZE): the outline at half the blob's contrast


def contrast(image: np.ndarray) -> np.ndarray:
    """Each pixel's RGB distance from the background colour ((H, W) float)."""
    return np.linalg.norm(np.asarray(image, float) - np.array(BACKGROUND, float), axis=-1)


def _shape_of(fill: float, top_share: float) -> str:
    if top_share < TRIANGLE_BELOW:
        return "triangle"
    return "square" if fill >= SQUARE_ABOVE else "circle"


def read(image: np.ndarray) -> list[Seen]:
    """The shapes in one uint8 image (H, W, 3), largest first."""
    from scipy import ndimage

    d = contrast(image)
    labels, n = ndimage.label(d > SPECK_CONTRAST, structure=np.ones((3, 3)))
    seen = []
    for k in range(1, n + 1):
        blob = labels == k
        peak = np.percentile(d[blob], 90)
        mask = blob & (d >= 0.5 * peak)
        area = int(mask.sum())
        if area < MIN_AREA:
            continue
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
        soft = np.where(blob, np.clip(d / peak, 0, 1), 0.0)        # the share of each pixel the blob covers
        fill = soft.sum() / (soft.sum(axis=1).max() * soft.sum(axis=0).max())  # area / (widest row x tallest column)
        mid = (y0 + y1) / 2
        top_share = float((ys < mid).sum() / max((ys > mid).sum(), 1))  # outline pixels above / below its middle row
        shape = _shape_of(fill, top_share)
        mean = np.asarray(image, float)[mask & (d >= 0.75 * peak)].mean(axis=0) - BACKGROUND
        cos = {c: float(mean @ v / (np.linalg.norm(mean) * np.linalg.norm(v) + 1e-9)) for c, v in _DIRECTIONS.items()}
        colour = max(cos, key=cos.get)
        h = math.sqrt(area / AREA_PER_H2[shape])
        y, x = (y0 + y1 + 1) / 2, (x0 + x1 + 1) / 2   # pixel i spans [i, i + 1)
        row, col = (int(np.argmin([abs(v - c) for c in CELL_CENTERS])) for v in (y, x))
        thing = Thing(shape, colour, "large" if h > LARGE_ABOVE else "small", POSITIONS[3 * row + col])
        shade = float(np.linalg.norm(mean) / np.linalg.norm(_DIRECTIONS[colour]))
        seen.append(Seen(thing, float(y), float(x), float(h), shade, float(fill), top_share, mask))
    return sorted(seen, key=lambda s: -int(s.mask.sum()))


def describe(things: list[Thing]) -> str:
    """What a picture shows, in the captions' words: 'large red circle, top left; small blue square, bottom'."""
    return "; ".join(f"{t.size} {t.colour} {t.shape}, {t.position}" for t in things) or "nothing"


def read_images(images) -> list[list[Seen]]:
    """:func:`read` for a batch: uint8 (n, H, W, 3), or float in [0, 1] (a pipeline's output). A batch already read
    (a list of lists of :class:`Seen`) is returned as it is, so one reading serves :func:`fidelity` and
    :func:`variety`."""
    if isinstance(images, list) and all(isinstance(b, list) and all(isinstance(s, Seen) for s in b) for b in images):
        return images
    x = np.asarray(images)
    if x.dtype != np.uint8:
        x = np.clip(np.round(x.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    return [read(im) for im in x]


ATTRIBUTES = ("shape", "colour", "size", "position")


def _match(asked: list[Thing], seen: list[Seen]) -> list[Seen | None]:
    """For each asked Thing, the seen blob that agrees with it on most of the attributes it names (each blob used
    once; ties go to the larger blob)."""
    free, out = list(seen), []
    for want in asked:
        keys = [k for k in ATTRIBUTES if getattr(want, k) is not None]
        best = max(free, key=lambda s: sum(getattr(s.thing, k) == getattr(want, k) for k in keys), default=None)
        out.append(best)
        if best is not None:
            free.remove(best)
    return out


def fidelity(images, prompt: str | list[Thing]) -> dict:
    """How well ``images`` (or what :func:`read_images` read in them) show what ``prompt`` asks, as :func:`read` sees them: for each attribute the prompt names,
    the share of (image, asked shape) pairs where the matched blob has it (``shape``, ``colour``, ``size``,
    ``position``: NaN when the prompt never names it), ``fidelity`` (the share of all named attributes found),
    ``exact`` (the share of images with every named attribute right) and ``extra`` (the share of images with more
    blobs than shapes asked). A prompt without shape words gives NaN everywhere. ``prompt`` may also be the asked
    Things themselves (for prompts in words :func:`parse` does not know, such as :data:`PARAPHRASE_WORDS`)."""
    asked = parse(prompt) if isinstance(prompt, str) else list(prompt)
    seen = read_images(images)
    hits = {k: [] for k in ATTRIBUTES}
    exact, extra = [], []
    for blobs in seen:
        ok = True
        for want, got in zip(asked, _match(asked, blobs)):
            for k in ATTRIBUTES:
                if getattr(want, k) is not None:
                    hit = got is not None and getattr(got.thing, k) == getattr(want, k)
                    hits[k].append(hit)
                    ok &= hit
        exact.append(ok)
        extra.append(len(blobs) > len(asked))
    nan = float("nan")
    named = [h for k in ATTRIBUTES for h in hits[k]]
    return {**{k: float(np.mean(v)) if v and asked else nan for k, v in hits.items()},
            "fidelity": float(np.mean(named)) if named else nan, "exact": float(np.mean(exact)) if asked else nan,
            "extra": float(np.mean(extra)) if asked else nan, "seen": [[s.thing for s in b] for b in seen]}


def variety(images) -> dict:
    """Within-prompt variety of ``images`` (all drawn for one prompt; or what :func:`read_images` read in them) in
    what a prompt leaves open, read from the
    largest blob of each image: ``place`` = mean pairwise distance between the blobs' centres (pixels), ``size`` =
    mean pairwise |difference| of their half-widths h (pixels), ``shade`` = mean pairwise |difference| of their
    brightness (1 = the palette colour), and ``variety`` = mean pairwise distance of (x, y, h, 10 * shade) in
    pixels, the one number the guidance table shows. Images without a blob are left out; NaN below two."""
    main = [b[0] for b in read_images(images) if b]
    if len(main) < 2:
        return {k: float("nan") for k in ("place", "size", "shade", "variety", "n")} | {"n": len(main)}
    v = np.array([(s.x, s.y, s.h, 10 * s.shade) for s in main])
    iu = np.triu_indices(len(v), 1)
    diff = np.abs(v[:, None] - v[None])[iu]           # (pairs, 4)
    return {"place": float(np.linalg.norm(diff[:, :2], axis=1).mean()), "size": float(diff[:, 2].mean()),
            "shade": float(diff[:, 3].mean() / 10), "variety": float(np.linalg.norm(diff, axis=1).mean()),
            "n": len(main)}


# ---- prompts to test with -------------------------------------------------------------------------------------

#: Synonyms no training caption uses (``unknown_words`` finds at least one in each): the paraphrase test set.
PARAPHRASE_WORDS = {
    "shape": {"circle": ("sphere", "orb", "circular shape"),
              "square": ("quadrilateral", "four-sided shape", "rectangle"),
              "triangle": ("triangular shape", "three-sided shape", "cone")},
    "colour": {"red": ("ruby", "cherry"), "green": ("jade", "olive"), "blue": ("sapphire", "navy"),
               "yellow": ("amber", "mustard"), "purple": ("plum", "mauve")},
    "size": {"small": ("miniature", "petite", "wee"), "large": ("giant", "enormous", "massive")},
    "position": {"top left": ("in the northwest corner", "near the top-left edge"),
                 "top": ("along the top edge", "near the upper edge"),
                 "top right": ("in the northeast corner", "near the top-right edge"),
                 "left": ("along the left edge", "on the west side"),
                 "center": ("in the very middle", "smack in the middle"),
                 "right": ("along the right edge", "on the east side"),
                 "bottom left": ("in the southwest corner", "near the bottom-left edge"),
                 "bottom": ("along the bottom edge", "near the lower edge"),
                 "bottom right": ("in the southeast corner", "near the bottom-right edge")},
}
PARAPHRASE_TEMPLATES = ("a {size} {colour} {shape} {pos}", "draw a {size} {colour} {shape} {pos}",
                        "{pos}: one {size} {colour} {shape}", "picture a {colour} {shape}, {size}, {pos}")


def prompt_sets(per_shape: int = 4, seed: int = 0) -> dict[str, list[tuple[str, Thing]]]:
    """Three test sets of one-shape prompts, ``per_shape`` prompts for each shape, each with the Thing it asks for
    (None where the prompt leaves an attribute open):

    - ``grammar``: the training captions' templates and words, pairs seen in training;
    - ``paraphrase``: :data:`PARAPHRASE_WORDS` for shape, colour, size and place in :data:`PARAPHRASE_TEMPLATES`
      (pairs seen in training, so only the words are new);
    - ``held_out``: the training grammar asking for each shape's :data:`HELD_OUT` colour, never seen with it.
    """
    rng = np.random.default_rng(seed)
    pick = lambda xs: xs[rng.integers(len(xs))]  # noqa: E731
    out = {"grammar": [], "paraphrase": [], "held_out": []}
    held = dict(HELD_OUT)
    for shape in SHAPES:
        for _ in range(per_shape):
            t = random_thing(rng)
            while t.shape != shape:
                t = random_thing(rng)
            template = pick(ONE_TEMPLATES)
            want = Thing(shape, t.colour, t.size if "{size}" in template else None,
                         t.position if "{pos" in template else None)
            out["grammar"].append((_phrase(t, rng, template), want))
            h = Thing(shape, held[shape], t.size, t.position)
            out["held_out"].append((_phrase(h, rng, "a {size} {colour} {shape} {pos}"), h))
            words = PARAPHRASE_WORDS
            text = pick(PARAPHRASE_TEMPLATES).format(
                size=pick(words["size"][t.size]), colour=pick(words["colour"][t.colour]),
                shape=pick(words["shape"][shape]), pos=pick(words["position"][t.position]))
            out["paraphrase"].append((text, t))
    return out
