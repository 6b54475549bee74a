"""Unit tests of core/flow.py: invertibility, the change of variables, normalisation, training, determinism, checkpoints."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core import checkpoints, flow, runtime

TINY = flow.FlowConfig(n_layers=4, hidden=16, depth=2, batch_size=128, steps=120, eval_every=40, lr=5e-3, seed=3)
TINY_SPLINE = TINY.replace(coupling="spline", bins=6, tail_bound=3.0)
COUPLINGS = ["affine", "spline"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def moons():
    return flow.make_data("moons", n=600, seed=0)


@pytest.fixture(scope="module")
def trained(moons):
    return flow.train(TINY, moons, device="cpu")


@pytest.fixture(scope="module")
def trained_spline(moons):
    return flow.train(TINY_SPLINE, moons, device="cpu")


def _random_flow(seed=0, dtype=torch.float32, dim=2, coupling="affine"):
    """A tiny flow whose every weight is random (zero-initialised last layers would make it the identity).
    Spline weights are smaller: at 0.5 four random splines of slopes down to 1e-6 compound into a map whose
    inverse amplifies rounding by 1e20, a test of float precision rather than of the code (at 0.25: 2e-5 in float32)."""
    cfg = flow.FlowConfig(dim=dim, n_layers=4, hidden=16, scale_bound=2.0, seed=seed, coupling=coupling, bins=6,
                          tail_bound=2.5)
    model = flow.build(cfg).to(dtype)
    g = runtime.torch_generator(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_((0.5 if coupling == "affine" else 0.2) * torch.randn(p.shape, generator=g, dtype=dtype))
    return model


@pytest.mark.parametrize("coupling", COUPLINGS)
def test_inverse_of_forward_is_identity(coupling):
    model = _random_flow(1, coupling=coupling)
    x = torch.randn(500, 2, generator=runtime.torch_generator(2)) * 2  # about a fifth beyond the spline's [-B, B]
    with torch.no_grad():
        z, ld_fwd = model.forward(x)
        x_back, ld_inv = model.inverse(z)
    assert not torch.allclose(z, x, atol=1e-2)  # the map is not trivially the identity
    assert torch.max(torch.abs(x_back - x)) < 1e-5
    # forward and inverse log-determinants cancel point by point
    assert torch.max(torch.abs(ld_fwd + ld_inv)) < 1e-4


@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("dim", [2, 3, 4])
@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_logdet_matches_autograd_jacobian(direction, dim, coupling):
    """Also in 3 and 4 dimensions, where the masks keep every other coordinate (odd D: unequal halves); the
    points reach the spline's identity tails too (|x| > B = 2.5 for some of them)."""
    model = _random_flow(4, torch.float64, dim=dim, coupling=coupling)
    pts = torch.randn(6, dim, generator=runtime.torch_generator(5), dtype=torch.float64) * 2
    fn = model.forward if direction == "forward" else model.inverse
    _, logdet = fn(pts)
    x_back, _ = (model.inverse if direction == "forward" else model.forward)(fn(pts)[0])
    assert torch.allclose(x_back, pts, atol=1e-10)
    for i in range(len(pts)):
        J = torch.autograd.functional.jacobian(lambda p: fn(p[None])[0][0], pts[i])
        sign, logabs = torch.linalg.slogdet(J)
        assert J.shape == (dim, dim) and sign != 0
        assert abs(float(logabs) - float(logdet[i].detach())) < 1e-10


def _spline_params(n, K=7, seed=0, scale=2.0):
    g = runtime.torch_generator(seed)
    return [scale * torch.randn(n, 1, m, generator=g, dtype=torch.float64) for m in (K, K, K - 1)]


def test_rq_spline_against_autograd_monotone_and_exactly_inverted():
    B = 3.0
    x = torch.linspace(-5, 5, 801, dtype=torch.float64)[:, None]  # the identity tails on both sides too
    w, h, d = _spline_params(1)
    w, h, d = (p.expand(len(x), 1, -1) for p in (w, h, d))  # one spline, many points: monotonicity
    xg = x.clone().requires_grad_(True)
    y, ld = flow.rq_spline(xg, w, h, d, B)
    (dy,) = torch.autograd.grad(y.sum(), xg)  # elementwise map: the gradient of the sum is g'(x)
    assert torch.allclose(ld, torch.log(dy), atol=1e-10)
    y = y.detach()
    assert (torch.diff(y[:, 0]) > 0).all()  # strictly increasing
    tails = x.abs() >= B
    assert torch.equal(y[tails], x[tails]) and torch.equal(ld[tails], torch.zeros_like(ld[tails]))
    assert not torch.allclose(y[~tails], x[~tails], atol=1e-2)
    # g joins the tails continuously with slope 1 at -B and B
    edge = torch.tensor([[-B + 1e-9], [B - 1e-9]], dtype=torch.float64)
    ye, lde = flow.rq_spline(edge, w[:2], h[:2], d[:2], B)
    assert torch.allclose(ye, edge, atol=1e-7) and torch.allclose(lde, torch.zeros_like(lde), atol=1e-6)
    # the inverse (root of the quadratic) undoes it; its log-slope is minus the forward one
    xb, ldi = flow.rq_spline(y, w, h, d, B, inverse=True)
    assert torch.max(torch.abs(xb - x)) < 1e-10 and torch.max(torch.abs(ld + ldi)) < 1e-9
    # random splines per point (as a coupling layer's conditioner gives), in float32 as trained. Milder ones:
    # inside a bin a spline can be far flatter than its knots' slopes (g' ~ s^3 / delta), and where g' = 1e-5
    # float32's rounding of y alone moves g^{-1}(y) by 1e-2 (float64 undoes the same splines to 1e-10, above)
    pts = torch.randn(2000, 1, generator=runtime.torch_generator(9)) * 3
    params = [p.float() for p in _spline_params(2000, seed=3, scale=0.5)]
    y32, ld32 = flow.rq_spline(pts, *params, B)
    xb32, ldi32 = flow.rq_spline(y32, *params, B, inverse=True)
    assert torch.max(torch.abs(xb32 - pts)) < 1e-5 and torch.max(torch.abs(ld32 + ldi32)) < 1e-4
    # zero parameters: the identity (a spline coupling's start)
    zeros = [torch.zeros_like(p) for p in params]
    yi, ldi0 = flow.rq_spline(pts, *zeros, B)
    assert torch.allclose(yi, pts, atol=1e-5) and torch.allclose(ldi0, torch.zeros_like(ldi0), atol=1e-5)


def test_log_prob_is_change_of_variables():
    model = _random_flow(6)
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    z0, ld = model.forward(torch.from_numpy(x))
    expected = -0.5 * (z0 ** 2).sum(1) - np.log(2 * np.pi) + ld  # ln p_0(z_0) - sum ln|det df_k/dz_{k-1}|
    assert np.allclose(model.log_prob(x), expected.detach().numpy(), atol=1e-5)


def test_density_integrates_to_one(trained, moons):
    Xtr, _ = moons
    lo, hi = Xtr.min(0) - 2.0, Xtr.max(0) + 2.0
    mass = flow.mass_in_box(trained, (lo[0], hi[0], lo[1], hi[1]), resolution=400)
    assert abs(mass - 1) < 0.02, mass
    # and a box that misses half the data misses about half the mass
    half = flow.mass_in_box(trained, (lo[0], hi[0], lo[1], float(np.median(Xtr[:, 1]))), resolution=200)
    assert 0.3 < half < 0.7


def test_spline_flow_density_integrates_to_one_and_training_lowers_the_nll(trained_spline, moons):
    Xtr, Xte = moons
    lo, hi = Xtr.min(0) - 2.0, Xtr.max(0) + 2.0
    mass = flow.mass_in_box(trained_spline, (lo[0], hi[0], lo[1], hi[1]), resolution=400)
    assert abs(mass - 1) < 0.02, mass
    h = trained_spline.history_
    untrained = flow.build(TINY_SPLINE)
    assert h[-1]["test/nll"] < untrained.nll(Xte) - 0.3 and h[-1]["test/nll"] < h[0]["test/nll"]
    assert isinstance(trained_spline.layers[0].coupling, flow.SplineCoupling)
    # sampling runs the exact inverse: samples carried back to the base land on their draws, and back again
    x, z0 = trained_spline.sample(300, seed=1, return_base=True)
    states, _ = trained_spline.trajectory(x, "to_base")
    assert np.max(np.abs(states[-1] - z0)) < 5e-5
    with torch.no_grad():
        xt = torch.from_numpy(Xte)
        back, _ = trained_spline.inverse(trained_spline.forward(xt)[0])
        assert torch.max(torch.abs(back - xt)) < 1e-5
        # far from the data (in the identity tails, or where a spline is nearly flat) exactly in float64
        m64 = flow.build(TINY_SPLINE).double()
        m64.load_state_dict(trained_spline.state_dict())
        far = torch.from_numpy(4 * Xte).double()
        back, _ = m64.inverse(m64.forward(far)[0])
        assert torch.max(torch.abs(back - far)) < 1e-9


def test_training_lowers_test_nll(trained, moons):
    h = trained.history_
    assert [m["step"] for m in h] == [40, 80, 120]
    untrained = flow.build(TINY)
    untrained.initialize(torch.from_numpy(moons[0]))
    start = untrained.nll(moons[1])
    assert h[-1]["test/nll"] < start - 0.3
    assert h[-1]["test/nll"] < h[0]["test/nll"]
    assert abs(trained.nll(moons[1]) - h[-1]["test/nll"]) < 1e-5
    assert h[-1]["seconds"] > 0 and all(np.isfinite(m["train/nll"]) for m in h)


def test_same_seed_same_result_and_chunks(trained, moons):
    again = flow.train(TINY, moons, device="cpu")
    for (k, a), (_, b) in zip(trained.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    assert np.array_equal(trained.sample(64, seed=9), again.sample(64, seed=9))
    other = flow.train(TINY.replace(seed=4), moons, device="cpu")
    assert not torch.equal(other.layers[0].coupling.net[0].weight, trained.layers[0].coupling.net[0].weight)
    # training in chunks, stopped and resumed, is bit-identical to one run
    seen = []
    m = flow.train(TINY, moons, device="cpu", until=80, callback=lambda s, met: seen.append(s))
    assert m.step_ == 80 and seen == [40, 80]
    m = flow.train(TINY, moons, model=m, device="cpu", callback=lambda s, met: seen.append(s))
    assert m.step_ == 120 and seen == [40, 80, 120]
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(m.history_) == strip(trained.history_)
    for (k, a), (_, b) in zip(trained.state_dict().items(), m.state_dict().items()):
        assert torch.equal(a, b), k
    # a chunk that ends between evaluations ends with one (core.training.loop: every call's last step is
    # evaluated); the weights and the other evaluations are those of one run all the same
    seen = []
    m = flow.train(TINY, moons, device="cpu", until=50, callback=lambda s, met: seen.append(s))
    assert m.step_ == 50 and seen == [40, 50] and [row["step"] for row in m.history_] == [40, 50]
    m = flow.train(TINY, moons, model=m, device="cpu", callback=lambda s, met: seen.append(s))
    assert m.step_ == 120 and seen == [40, 50, 80, 120]
    evaluations = lambda h: [(r["step"], r["train/nll"], r["test/nll"]) for r in h if r["step"] != 50]  # noqa: E731
    assert evaluations(m.history_) == evaluations(trained.history_)
    for (k, a), (_, b) in zip(trained.state_dict().items(), m.state_dict().items()):
        assert torch.equal(a, b), k


def test_callback_can_stop(moons):
    m = flow.train(TINY, moons, device="cpu", callback=lambda s, met: "stop")
    assert m.step_ == TINY.eval_every
    with pytest.raises(ValueError, match="another config"):
        flow.train(TINY.replace(lr=1e-2), moons, model=m)


def test_sampling_and_trajectories(trained):
    x, z0 = trained.sample(300, seed=1, return_base=True)
    assert x.shape == (300, 2) and x.dtype == np.float32
    assert np.array_equal(x, trained.sample(300, seed=1)) and not np.array_equal(x, trained.sample(300, seed=2))
    states, lds = trained.trajectory(z0, "to_data")
    assert states.shape == (TINY.n_layers + 1, 300, 2) and lds.shape == (TINY.n_layers, 300)
    assert np.array_equal(states[0], z0) and np.allclose(states[-1], x, atol=1e-6)
    _, ld_inv = trained.inverse(torch.from_numpy(z0))
    assert np.allclose(lds.sum(0), ld_inv.detach().numpy(), atol=1e-4)
    back, lds_b = trained.trajectory(x, "to_base")
    assert np.allclose(back[-1], z0, atol=1e-4)
    assert np.allclose(lds_b.sum(0), -lds.sum(0), atol=1e-4)
    # layer j from the data side is layer K-j of the sampling direction, undone
    assert np.allclose(lds_b[0], -lds[-1], atol=1e-4)
    with pytest.raises(ValueError, match="to_base"):
        trained.trajectory(x, "sideways")


def test_checkpoint_round_trip_is_bit_identical(trained, moons, tmp_path):
    path = tmp_path / "flow_test"
    flow.save(trained, path, meta={"command": "pytest"})
    model = flow.load(path, device="cpu")
    _, record = checkpoints.load(path, family=flow.FAMILY)
    assert record["family"] == "flow" and record["meta"]["command"] == "pytest" and model.meta == record["meta"]
    assert record["config_hash"] == checkpoints.config_hash(TINY)
    for (k, a), (_, b) in zip(trained.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), k
    assert np.array_equal(model.log_prob(moons[1]), trained.log_prob(moons[1]))
    assert model.history_ == trained.history_ and model.step_ == trained.step_


def test_spline_checkpoint_round_trip_and_old_records_load_as_affine(trained, trained_spline, moons, tmp_path):
    flow.save(trained_spline, tmp_path / "spline")
    model = flow.load(tmp_path / "spline", device="cpu")
    _, record = checkpoints.load(tmp_path / "spline", family=flow.FAMILY)
    assert record["config"]["coupling"] == "spline" and model.config == TINY_SPLINE
    for (k, a), (_, b) in zip(trained_spline.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), k
    assert np.array_equal(model.log_prob(moons[1]), trained_spline.log_prob(moons[1]))
    assert np.array_equal(model.sample(50, seed=2), trained_spline.sample(50, seed=2))
    # a record written before the coupling was a setting (no coupling, bins, tail_bound) is the affine flow
    flow.save(trained, tmp_path / "old")
    rec = json.loads((tmp_path / "old.json").read_text())
    for key in ("coupling", "bins", "tail_bound"):
        del rec["config"][key]
    (tmp_path / "old.json").write_text(json.dumps(rec))
    old = flow.load(tmp_path / "old", device="cpu")
    assert old.config == TINY and np.array_equal(old.log_prob(moons[1]), trained.log_prob(moons[1]))


def test_shipped_checkpoints_still_load_bit_for_bit():
    """Every shipped flow loads with its recorded config; the affine ones give the numbers recorded when trained."""
    for name in flow.DEFAULT_SETS:
        model = flow.load_shipped(flow.shipped_name(name), device="cpu")
        _, record = checkpoints.load(checkpoints.shipped(flow.shipped_name(name)), family=flow.FAMILY)
        assert model.config.coupling == record["config"].get("coupling", "affine")
        Xtr, Xte = flow.make_data(record["meta"]["data"]["name"], record["meta"]["data"]["n"],
                                  record["meta"]["data"]["seed"])
        assert abs(model.nll(Xte) - record["meta"]["final"]["test/nll"]) < 1e-5, name


def test_resume_from_checkpoint_equals_uninterrupted(moons, tmp_path):
    full = flow.train(TINY, moons, device="cpu")
    half = flow.train(TINY, moons, device="cpu", until=60)
    flow.save(half, tmp_path / "half")
    resumed = flow.load(tmp_path / "half", device="cpu")
    resumed = flow.train(TINY, moons, model=resumed, device="cpu")
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k


def test_corrupt_checkpoint_is_reported(trained, tmp_path):
    path = tmp_path / "bad"
    weights = flow.save(trained, path)
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(checkpoints.CheckpointError, match="corrupt"):
        flow.load(path)
    flow.save(trained, tmp_path / "other")
    (tmp_path / "other.json").write_text(json.dumps({**json.loads((tmp_path / "other.json").read_text()), "family": "gan"}))
    with pytest.raises(checkpoints.CheckpointError, match="not a 'flow'"):
        flow.load(tmp_path / "other")


def test_divergence_is_reported(moons):
    cfg = TINY.replace(lr=1e6, lr_min=1e6, grad_clip=0.0, scale_bound=50.0, steps=300)
    with pytest.raises(flow.TrainingDiverged) as info:
        flow.train(cfg, moons, device="cpu")
    err = info.value
    assert "step" in err.reason and err.model is not None and err.model.diverged_
    assert all(torch.isfinite(p).all() for p in err.model.parameters())


def test_bad_options_and_data():
    with pytest.raises(ValueError, match="valid choices"):
        flow.FlowConfig(activation="sigmoidish")
    with pytest.raises(ValueError, match="n_layers"):
        flow.FlowConfig(n_layers=0)
    with pytest.raises(ValueError, match="lr"):
        flow.FlowConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="valid choices"):
        flow.FlowConfig(coupling="cubic")
    with pytest.raises(ValueError, match="bins"):
        flow.FlowConfig(coupling="spline", bins=1)
    with pytest.raises(ValueError, match="tail_bound"):
        flow.FlowConfig(tail_bound=0.0)
    with pytest.raises(ValueError, match="valid choices"):
        flow.make_data("donut")
    bad = np.zeros((20, 2), np.float32)
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        flow.train(TINY, (bad, bad))
    with pytest.raises(ValueError, match="shape"):
        flow.train(TINY, (np.zeros((20, 3)), np.zeros((5, 3))))


def test_reference_densities_on_a_gaussian():
    X = np.random.default_rng(0).normal(size=(700, 2))
    refs = flow.reference_densities(X[:400], X[400:], seed=0)
    entropy = np.log(2 * np.pi * np.e)  # the NLL of N(0, I) in nats, 2.838
    assert refs["gmm"].params["n_components"] <= 2
    assert abs(refs["gmm"].test_nll - entropy) < 0.1
    assert abs(refs["kde"].test_nll - entropy) < 0.15
    assert 0.1 < refs["kde"].params["bandwidth"] < 1.0
    assert np.allclose(refs["kde"].log_prob(X[:5]), refs["kde"].estimator.score_samples(X[:5]))


@pytest.mark.parametrize("max_norm", [0.0, 0.5, 1e6])
def test_gradient_clipping_equals_torchs(max_norm):
    """The foreach clipping used in training gives torch.nn.utils.clip_grad_norm_'s result bit for bit."""
    g = runtime.torch_generator(0)
    grads = [torch.randn(s, generator=g) for s in ((16, 1), (16,), (16, 16), (2, 16))]
    ours = [torch.nn.Parameter(torch.zeros_like(x)) for x in grads]
    theirs = [torch.nn.Parameter(torch.zeros_like(x)) for x in grads]
    for p, q, x in zip(ours, theirs, grads):
        p.grad, q.grad = x.clone(), x.clone()
    total = flow._clip_grad_norm(ours, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm if max_norm > 0 else float("inf"))
    assert torch.equal(total, expected)
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(ours, theirs))
    assert (max_norm == 0.5) == (not torch.equal(ours[0].grad, grads[0]))  # clipped only when over the bound


# ------------------------------------------------------------------------------ a learned mixture base
@pytest.fixture(scope="module")
def ring():
    return flow.make_data("ring8", n=900, seed=0)


def _share_on_modes(model):
    from core import data as gdata
    from core import metrics
    S = model.sample(2000, seed=1)
    return metrics.mode_coverage(S, *gdata.mixture_modes("ring8")).high_quality


def test_mixture_base_removes_the_bridges_between_modes(ring):
    """A flow from one Gaussian leaves mass between the ring's modes; with 8 base components it does not."""
    cfg = TINY.replace(n_layers=4, hidden=32, steps=150, eval_every=50, seed=0)
    normal = flow.train(cfg, ring, device="cpu")
    mixture = flow.train(cfg.replace(base_components=8), ring, device="cpu")
    assert normal.base is None and mixture.base is not None
    assert _share_on_modes(mixture) > 0.95 > _share_on_modes(normal) + 0.1
    assert mixture.nll(ring[1]) < normal.nll(ring[1]) - 0.3
    # its exact density still integrates to one
    assert abs(flow.mass_in_box(mixture, (-3.5, 3.5, -3.5, 3.5), resolution=700) - 1) < 0.02


def test_mixture_base_density_sampling_and_checkpoint(tmp_path, ring):
    model = flow.build(flow.FlowConfig(n_layers=2, hidden=8, base_components=3, seed=5))
    base = model.base
    z = torch.randn(50, 2, generator=runtime.torch_generator(0))
    # ln p_0 is the mixture's: sum_j pi_j N(z; mu_j, diag sigma_j^2)
    pi = torch.softmax(base.logits.detach(), 0)
    dens = sum(pi[j] * torch.exp(torch.distributions.Normal(base.means[j], base.log_std[j].exp()).log_prob(z).sum(1))
               for j in range(3)).detach()
    assert torch.allclose(base.log_prob(z).detach(), dens.log(), atol=1e-5)
    # the flow's layers start as the identity, so its density is the base's
    assert torch.allclose(model.log_prob_tensor(z).detach(), dens.log(), atol=1e-5)
    # sampling draws the components by their weights
    with torch.no_grad():
        base.logits.copy_(torch.tensor([0.0, 0.0, 50.0]))
    S = model.sample(400, seed=2)
    assert np.abs(S.mean(0) - base.means[2].detach().numpy()).max() < 0.1
    assert np.array_equal(S, model.sample(400, seed=2))
    # trained, saved and reloaded: the same weights, densities and samples
    trained = flow.train(TINY.replace(base_components=8, steps=40), ring, device="cpu")
    flow.save(trained, tmp_path / "mix")
    again = flow.load(tmp_path / "mix", device="cpu")
    for (k, a), (_, b) in zip(trained.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    assert any(k.startswith("base.") for k in again.state_dict())
    assert np.array_equal(again.sample(100, seed=3), trained.sample(100, seed=3))
    with pytest.raises(ValueError, match="base_components"):
        flow.FlowConfig(base_components=-1)
