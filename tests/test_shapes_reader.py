"""core.shapes' reader, the judge of the text-to-image page: it reads shape, colour, size and place from the pixels
alone (no training, no captions), so it is checked against the renderer that drew the pictures."""
import numpy as np
import pytest

from core import shapes
from core.shapes import Thing


@pytest.fixture(scope="module")
def data():
    """1,200 pictures of the shapes world, held-out pairs and two-shape pictures included."""
    images, _, things = shapes.dataset(1200, seed=11, held_out=True, two_share=0.4)
    return images, things


def _blank(n: int = 1) -> np.ndarray:
    return np.full((n, shapes.SIZE, shapes.SIZE, 3), shapes.BACKGROUND, np.uint8)


def _nearest(seen: list, thing: Thing):
    """The blob whose centre is nearest the centre of ``thing``'s grid cell (independent of what the reader calls it)."""
    r, c = shapes.cell(thing.position)
    cy, cx = shapes.CELL_CENTERS[r], shapes.CELL_CENTERS[c]
    return min(seen, key=lambda s: (s.y - cy) ** 2 + (s.x - cx) ** 2, default=None)


# ------------------------------------------------------------------------------------ reading the true pictures

def test_the_reader_reads_99_percent_of_every_attribute_of_rendered_pictures(data):
    images, things = data
    seen = shapes.read_images(images)
    assert sum(len(t) for t in things) >= 1500  # the 1,200 pictures hold this many shapes
    assert np.mean([len(s) == len(t) for s, t in zip(seen, things)]) >= 0.99  # as many blobs as shapes
    hits = {k: [] for k in shapes.ATTRIBUTES}
    for blobs, truth in zip(seen, things):
        for want in truth:
            got = _nearest(blobs, want)
            for k in shapes.ATTRIBUTES:
                hits[k].append(got is not None and getattr(got.thing, k) == getattr(want, k))
    shares = {k: float(np.mean(v)) for k, v in hits.items()}
    assert min(shares.values()) >= 0.99, shares
    # the held-out pairs (never in training) are read like any other: the reader knows nothing of the captions
    held = [got.thing for blobs in seen for got in blobs if (got.thing.shape, got.thing.colour) in shapes.HELD_OUT]
    assert len(held) > 50


def test_the_outline_matches_the_renderers_true_outline(data):
    _, things = data
    ious = []
    for i, truth in enumerate(things[:300]):
        image, masks = shapes.render(truth, seed=1000 + i, masks=True)
        seen = shapes.read(image)
        for m in masks:
            ious.append(max((np.sum(m & s.mask) / np.sum(m | s.mask) for s in seen), default=0.0))
    assert np.mean(ious) >= 0.95, np.mean(ious)
    assert np.mean(np.array(ious) >= 0.8) >= 0.95  # not a few perfect outlines hiding many poor ones


def test_float_pictures_read_as_their_uint8_pixels(data):
    images, _ = data
    as_float = images[:20].astype(np.float32) / 255  # a pipeline's output
    assert [[s.thing for s in b] for b in shapes.read_images(as_float)] == \
        [[s.thing for s in b] for b in shapes.read_images(images[:20])]


def test_a_blank_picture_reads_as_nothing_and_a_speck_is_ignored():
    assert shapes.read(_blank()[0]) == []
    speck = _blank()[0]
    speck[10:12, 10:12] = shapes.RGB["red"]  # 4 pixels, under MIN_AREA
    assert 4 < shapes.MIN_AREA and shapes.read(speck) == []
    shape = shapes.render([Thing("square", "blue", "large", "bottom right")], seed=3)
    shape[2:4, 2:4] = shapes.RGB["yellow"]  # a speck beside a real shape
    assert [s.thing for s in shapes.read(shape)] == [Thing("square", "blue", "large", "bottom right")]
    f = shapes.fidelity(_blank(3), "a red circle")
    assert f["fidelity"] == f["shape"] == f["exact"] == 0.0 and f["seen"] == [[], [], []]


def test_the_data_keeps_every_shape_inside_the_frame(data):
    """No shape is cut by the frame: the outermost ring of pixels is at most half covered by any shape (a cut shape
    would cover some fully), also for large shapes pushed into the corners."""
    images, _ = data
    corners = np.stack([shapes.render([Thing(shape, "yellow", "large", pos)], seed=s)
                        for shape in shapes.SHAPES for pos in ("top left", "top right", "bottom left", "bottom right")
                        for s in range(10)])
    for pics in (images, corners):
        d = shapes.contrast(pics)
        ring = np.concatenate([d[:, 0, :], d[:, -1, :], d[:, :, 0], d[:, :, -1]], axis=1).max(axis=1)
        assert np.all(ring <= 0.5 * d.reshape(len(d), -1).max(axis=1) + 3)  # + rounding to uint8


# ------------------------------------------------------------------------------------ fidelity

def test_fidelity_is_1_on_true_pictures_and_shape_0_on_another_shape():
    asked = [Thing("triangle", "green", "small", "center")]
    true = np.stack([shapes.render(asked, seed=s) for s in range(8)])
    f = shapes.fidelity(true, "a small green triangle in the center")
    assert f["fidelity"] == f["exact"] == 1.0 and all(f[k] == 1.0 for k in shapes.ATTRIBUTES)
    assert f["extra"] == 0.0
    circles = np.stack([shapes.render([Thing("circle", "green", "small", "center")], seed=s) for s in range(8)])
    g = shapes.fidelity(circles, "a small green triangle in the center")
    assert g["shape"] == 0.0 and g["exact"] == 0.0 and g["colour"] == g["size"] == g["position"] == 1.0
    assert g["fidelity"] == pytest.approx(0.75)
    two = [Thing("circle", "red", "large", "top left"), Thing("square", "purple", "small", "bottom right")]
    both = np.stack([shapes.render(two, seed=s) for s in range(4)])
    assert shapes.fidelity(both, "a large red circle in the top left and a small purple square in the bottom "
                                 "right")["exact"] == 1.0
    assert shapes.fidelity(both, "a red circle")["extra"] == 1.0  # a blob more than asked for


def test_fidelity_takes_the_asked_things_as_well_as_words():
    pics = np.stack([shapes.render([Thing("square", "yellow", "large", "left")], seed=s) for s in range(4)])
    words = shapes.fidelity(pics, "a large yellow square on the left")
    things = shapes.fidelity(pics, [Thing("square", "yellow", "large", "left")])
    assert {k: words[k] for k in ("fidelity", "exact", *shapes.ATTRIBUTES)} == \
        {k: things[k] for k in ("fidelity", "exact", *shapes.ATTRIBUTES)} and things["fidelity"] == 1.0
    loose = shapes.fidelity(pics, [Thing("square", "yellow", None, None)])  # unnamed attributes are not scored
    assert loose["fidelity"] == 1.0 and np.isnan(loose["size"]) and np.isnan(loose["position"])
    red = shapes.fidelity(pics, [Thing("square", "red", None, None)])
    assert red["shape"] == 1.0 and red["colour"] == 0.0 and red["fidelity"] == 0.5
    nothing = shapes.fidelity(pics, "something nice")  # no shape named: undefined
    assert np.isnan(nothing["fidelity"]) and np.isnan(nothing["exact"]) and np.isnan(nothing["shape"])


# ------------------------------------------------------------------------------------ variety

def test_variety_is_0_for_copies_positive_across_seeds_and_nan_below_two_blobs():
    one = [Thing("circle", "blue", "large", "center")]
    copies = np.repeat(shapes.render(one, seed=5)[None], 6, axis=0)
    v = shapes.variety(copies)
    assert v["n"] == 6 and all(v[k] == 0.0 for k in ("place", "size", "shade", "variety"))
    seeds = np.stack([shapes.render(one, seed=s) for s in range(6)])
    w = shapes.variety(seeds)
    assert all(w[k] > 0 for k in ("place", "size", "shade", "variety")) and w["variety"] > 1.0  # pixels
    assert w["variety"] >= w["place"]  # the one number holds the place's spread and more
    for few, blobs in ((seeds[:1], 1), (_blank(4), 0), (np.concatenate([seeds[:1], _blank(3)]), 1)):
        u = shapes.variety(few)
        assert u["n"] == blobs and all(np.isnan(u[k]) for k in ("place", "size", "shade", "variety"))


# ------------------------------------------------------------------------------------ the prompt sets

def test_paraphrase_prompts_use_an_unknown_word_for_every_attribute_and_the_others_none():
    sets = shapes.prompt_sets(per_shape=12, seed=2)
    assert {len(v) for v in sets.values()} == {12 * len(shapes.SHAPES)}
    for text, want in sets["paraphrase"]:
        unknown = set(shapes.unknown_words(text))
        for kind in shapes.ATTRIBUTES:
            phrases = [p for p in shapes.PARAPHRASE_WORDS[kind][getattr(want, kind)] if p in text]
            assert phrases, (text, kind)
            assert any(set(p.replace("-", " ").split()) & unknown for p in phrases), (text, kind, unknown)
    for name in ("grammar", "held_out"):
        for text, want in sets[name]:
            assert not shapes.unknown_words(text), (name, text)
            assert [t.shape for t in shapes.parse(text)] == [want.shape]
    assert all((w.shape, w.colour) in shapes.HELD_OUT for _, w in sets["held_out"])


def test_one_reading_serves_fidelity_and_variety():
    """What read_images read can be passed on instead of the pictures: the same numbers, one reading."""
    thing = shapes.Thing("triangle", "purple", "large", "bottom right")
    pics = np.array([shapes.render([thing], seed=s) for s in range(6)])
    seen = shapes.read_images(pics)
    assert shapes.read_images(seen) is seen
    a, b = shapes.fidelity(pics, "a large purple triangle in the bottom right"), shapes.fidelity(seen, "a large purple triangle in the bottom right")
    assert {k: a[k] for k in shapes.ATTRIBUTES + ("fidelity", "exact")} == {k: b[k] for k in shapes.ATTRIBUTES + ("fidelity", "exact")}
    assert shapes.variety(pics) == shapes.variety(seen) and a["shape"] == 1.0
