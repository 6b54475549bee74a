"""Units for what the flow page computes through core: loading a flow as a model (core/flow.py's load and
load_shipped), the layer view's warps and the anomaly view's scores, the plane's geometry (core/viz/flow.py) and the
lecture text (core/steps/flow.py). Untrained tiny flows on CPU, well under a second each."""
import numpy as np
import pytest
import torch

from core import checkpoints, flow
from core.steps import flow as text
from core.viz import flow as fig

TINY = flow.FlowConfig(n_layers=3, hidden=8, depth=1, steps=10, eval_every=5, seed=1)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def moons():
    return flow.make_data("moons", n=300, seed=0)


def test_load_and_load_shipped_return_the_model_with_its_meta():
    path = checkpoints.shipped(flow.shipped_name("moons"))
    model = flow.load(path, device="cpu")
    _, record = checkpoints.load(path, family=flow.FAMILY)
    assert isinstance(model, flow.RealNVP) and model.meta == record["meta"] and "command" in model.meta
    assert model.config == flow.FlowConfig(**record["config"]) and model.step_ == record["meta"]["step"]
    shipped = flow.load_shipped(flow.shipped_name("moons"), device="cpu")
    for (k, a), (_, b) in zip(model.state_dict().items(), shipped.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(checkpoints.CheckpointError):
        flow.load_shipped("flow_no_such_set")


@pytest.mark.parametrize("components", [0, 3])
def test_warps_follow_points_and_grid_lines_through_every_layer(moons, components):
    m = flow.build(TINY.replace(base_components=components))
    start = flow.warp_start(m, seed=2, n=200)  # draws from the base, seeded
    assert start.shape == (200, 2) and np.array_equal(start, flow.warp_start(m, seed=2, n=200))
    colors, lines = fig.warp_grid(start, m.base is None)
    assert len(colors) == 200 and len(lines) == 22 and all(line.shape == (120, 2) for line in lines)
    states, line_states, mean_ld = flow.warps(m, start, lines, "to_data")
    assert states.shape == (4, 200, 2) and np.array_equal(states[0], start) and mean_ld.shape == (3,)
    ref_states, ref_ld = m.trajectory(start, "to_data")
    assert np.array_equal(states, ref_states) and np.array_equal(mean_ld, ref_ld.mean(1))
    assert len(line_states) == 22 and np.array_equal(line_states[5], m.trajectory(lines[5].astype(np.float32))[0])
    # the data side: test points in a seeded order, the grid over the data's box
    test_pts = flow.warp_start(m, seed=2, X_test=moons[1], n=50)
    assert test_pts.shape == (50, 2) and all(any(np.array_equal(p, q) for q in moons[1]) for p in test_pts[:5])
    _, lines = fig.warp_grid(test_pts, m.base is None, box=(-2.0, 3.0, -1.0, 1.5))
    assert lines[0][:, 1].min() == -2.0 and lines[0][:, 1].max() == 3.0  # one square range over both axes
    assert flow.warps(m, test_pts, lines, "to_base")[0].shape == (4, 50, 2)


def test_the_standard_normal_grid_and_colours():
    start = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], np.float32)
    colors, lines = fig.warp_grid(start, standard_base=True)
    assert np.allclose(colors, [0, np.pi / 2, np.pi])  # the angle about the origin
    assert np.allclose([line[0, 0] for line in lines[:11]], np.linspace(-2.5, 2.5, 11))
    assert lines[0][:, 1].min() == -3.0 and lines[0][:, 1].max() == 3.0


def test_anomaly_scores_append_the_outliers(moons):
    m = flow.build(TINY)
    out = fig.uniform_points((-1.0, 1.0, 2.0, 3.0), 7, seed=4)
    assert out.shape == (7, 2) and out.dtype == np.float32 and np.array_equal(out, fig.uniform_points((-1.0, 1.0, 2.0, 3.0), 7, 4))
    assert (out[:, 0] >= -1).all() and (out[:, 0] <= 1).all() and (out[:, 1] >= 2).all() and (out[:, 1] <= 3).all()
    lp_train, points, lp = flow.anomaly_scores(m, moons[0], moons[1], out)
    assert np.array_equal(points, np.concatenate([moons[1], out])) and np.array_equal(lp, m.log_prob(points))
    assert np.array_equal(lp_train, m.log_prob(moons[0]))


def test_data_box_and_layer_box():
    assert fig.data_box(np.array([[-3.0, 0.0], [3.0, 1.0]])) == fig.TOY_BOX
    x0, x1, y0, y1 = fig.data_box(np.array([[0.0, 0.0], [10.0, 4.0]]))
    assert x1 - x0 == pytest.approx(y1 - y0) and x0 < 0 and x1 > 10 and y0 < 0 and y1 > 4  # square, with a margin
    assert fig.layer_box(np.zeros((5, 2)), fig.TOY_BOX) == (-4.0, -4.0 + 8.0, -4.0, 4.0)
    pts = np.random.default_rng(0).normal(50, 1, size=(400, 2))
    bx0, bx1, by0, by1 = fig.layer_box(pts, (0.0, 100.0, 0.0, 100.0))  # the user's units: around this layer's points
    assert bx0 < 48 and bx1 > 52 and bx1 - bx0 < 20 and by1 - by0 == pytest.approx(bx1 - bx0)


def test_the_steps_are_plain_data():
    assert len(text.STEPS) == 8 and {s for v in text.VIEWS for s in v.sections} == {s.section for s in text.STEPS}
    assert set(text.SETS) == set(flow.DEFAULT_SETS) | {"mine"}
    assert "{layers} layers, seed {seed}" in text.NOTE_LIVE and "{command}" in text.NOTE_SHIPPED


def test_the_flow_follows_the_family_protocol(moons):
    import argparse

    from core import families, training

    cfg = TINY.replace(coupling="spline")
    assert isinstance(cfg, training.Config) and flow.FlowConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="valid fields are"):
        flow.FlowConfig.from_dict({"layers": 3})
    p = argparse.ArgumentParser()
    flow.FlowConfig.add_arguments(p)
    args = p.parse_args(["--n-layers", "3", "--actnorm", "true", "--coupling", "spline"])
    assert flow.FlowConfig.from_arguments(args) == flow.FlowConfig(n_layers=3, actnorm=True, coupling="spline")
    assert flow.LIKELIHOOD == families.get("flow").likelihood == "exact"
    with pytest.raises(TypeError):
        flow.train(TINY, moons, None, None)  # model=, until=, device= are keyword-only
    a = flow.train(TINY, moons, device="cpu", until=5)
    b = flow.train(TINY, moons, device="cpu", until=2)
    b = flow.train(TINY, moons, model=b, device="cpu", until=5)
    assert a.step_ == b.step_ == 5 and all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    with pytest.raises(TypeError):
        flow.train(TINY, moons, device="cpu", steps=5)  # the old chunk size is gone: until= says where to stop
    # metric keys: train/... and test/... (and the step and the seconds spent in gradient steps)
    assert set(a.history_[-1]) == {"step", "seconds", "train/nll", "test/nll", "train/batch_nll", "train/lr"}


def test_data_none_is_the_data_the_config_names_and_save_records_it(tmp_path):
    cfg = TINY.replace(data="ring8", n_points=120, data_seed=2, steps=4, eval_every=2)
    Xtr, Xte = flow.load_data(cfg)
    assert np.array_equal(Xtr, flow.make_data("ring8", 120, 2)[0]) and len(Xtr) + len(Xte) == 120
    m = flow.train(cfg, device="cpu")
    same = flow.train(cfg, (Xtr, Xte), device="cpu")
    assert all(torch.equal(x, y) for x, y in zip(m.parameters(), same.parameters())) and same.data_name_ is None
    assert m.history_[-1]["test/nll"] == pytest.approx(m.nll(Xte), abs=1e-5)
    flow.save(m, tmp_path / "f", meta={"command": "python -m core train flow --data ring8"})
    meta = flow.load(tmp_path / "f", device="cpu").meta
    assert meta["data"] == {"name": "ring8", "n": 120, "seed": 2, "test_size": 1 / 3}
    assert set(meta["reference"]) == {"kde", "gmm"} and meta["final"]["test/nll"] == m.history_[-1]["test/nll"]
    with pytest.raises(ValueError, match="valid choices"):
        flow.FlowConfig(data="nope")
