"""Units for what the VAE page computes through core (core/vae.py's view helpers, core/viz/vae.py's maps) and its
lecture text (core/steps/vae.py): untrained tiny models on sklearn's 8x8 digits, CPU, well under a second each."""
import numpy as np
import pytest
import torch

from core import checkpoints, vae
from core.steps import vae as text
from core.viz import vae as fig

TINY = dict(data="digits8", hidden=(32,), seed=0)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return vae.load_data(vae.VAEConfig(**TINY))


def _model(digits, **kw):
    return vae.build(vae.VAEConfig(**TINY, **kw), digits.dim, digits.shape, "cpu")


def test_encode_sigma_is_the_posteriors_standard_deviation(digits):
    m = _model(digits)
    mu, sigma = vae.encode_sigma(m, digits.x_test[:20])
    mu0, logvar = vae.encode(m, digits.x_test[:20])
    assert np.array_equal(mu, mu0) and np.array_equal(sigma, np.exp(0.5 * logvar)) and sigma.shape == (20, 2)
    assert vae.encode_sigma(_model(digits, model="ae"), digits.x_test[:5])[1] is None  # no spread to show


def test_per_image_gap_is_iwae_minus_the_elbo_per_image(digits):
    m, x = _model(digits), digits.x_test[:30]
    gap = vae.per_image_gap(m, x, k=20)
    assert gap.shape == (30,) and np.isfinite(gap).all()
    assert np.array_equal(gap, vae.per_image_gap(m, x, k=20))  # fixed seeds: the buttons pick the same digit
    # ln p(x) >= ELBO: the IWAE estimate lies above the ELBO on average
    assert gap.mean() > 0
    # the ELBO part does not depend on K: the gaps of two K differ by the two IWAE estimates exactly
    diff = vae.per_image_gap(m, x, k=5) - gap
    assert np.allclose(diff, m.log_prob(x, k=5, seed=1) - m.log_prob(x, k=20, seed=1), atol=1e-4)


def test_iwae_curve_tightens_with_k(digits):
    m = _model(digits)
    ks, vals, elbo = vae.iwae_curve(m, digits.x_test[:40], ks=(1, 5, 50))
    assert ks == [1, 5, 50] and len(vals) == 3
    assert vals[0] <= vals[-1] and elbo <= vals[-1]
    assert vals == vae.iwae_curve(m, digits.x_test[:40], ks=(1, 5, 50))[1]


def test_denoising_corrupts_with_the_seed_and_reports_errors(digits):
    dae, ae = _model(digits, model="dae", noise=0.5), _model(digits, model="ae")
    d = vae.denoising(dae, ae, digits.x_test, 0.5, seed=3)
    assert all(d[k].shape == (10, 8, 8) for k in ("x", "noisy", "dae", "ae"))
    assert d["noisy"].min() >= 0 and d["noisy"].max() <= 1 and not np.array_equal(d["noisy"], d["x"])
    assert np.array_equal(d["x"][1], digits.x_test[len(digits.x_test) // 10].numpy().reshape(8, 8))
    assert d["err"]["noisy"] == pytest.approx(float(np.abs(d["noisy"] - d["x"]).mean()))
    again = vae.denoising(dae, ae, digits.x_test, 0.5, seed=3)
    assert np.array_equal(again["noisy"], d["noisy"]) and again["err"] == d["err"]
    assert not np.array_equal(vae.denoising(dae, ae, digits.x_test, 0.5, seed=4)["noisy"], d["noisy"])
    clean = vae.denoising(dae, ae, digits.x_test, 0.0, seed=3)
    assert np.array_equal(clean["noisy"], clean["x"]) and clean["err"]["noisy"] == 0


def test_beta_table_reads_what_training_recorded():
    class M:
        config = vae.VAEConfig(beta=0.25)
        history_ = [{"train/recon": 9.0}, {"train/recon": 1.0, "test/recon": 2.0, "test/kl": 3.0, "test/elbo": -5.0}]
        meta = {"test/iwae50": -4.5}

    rows = vae.beta_table([M()])
    assert rows == [{"label": "beta = 0.25", "train_recon": 1.0, "recon": 2.0, "kl": 3.0, "elbo": -5.0, "iwae50": -4.5}]
    assert len(text.BETA_COLUMNS) == len(rows[0])  # the page's table names the columns in the rows' order


def test_with_last_test_carries_the_test_terms_forward():
    seen = []
    cb = vae.with_last_test(lambda step, m: seen.append((step, m)) or step == 3)
    assert cb(1, {"train/elbo": -1.0}) is False
    cb(2, {"train/elbo": -2.0, "test/elbo": -3.0})
    assert cb(3, {"train/elbo": -4.0}) is True  # the wrapped callback's answer (stop) comes back
    assert seen == [(1, {"train/elbo": -1.0}), (2, {"train/elbo": -2.0, "test/elbo": -3.0}),
                    (3, {"train/elbo": -4.0, "test/elbo": -3.0})]


def test_interpolation_runs_between_the_first_images_of_two_digits(digits):
    m = _model(digits)
    images = digits.x_test.numpy().reshape((-1,) + digits.shape)
    line, ia, ib = vae.interpolation(m, images, digits.y_test, 3, 8, steps=5)
    assert (ia, ib) == (int(np.flatnonzero(digits.y_test == 3)[0]), int(np.flatnonzero(digits.y_test == 8)[0]))
    assert line.shape == (7, 8, 8) and np.array_equal(line[0], images[ia]) and np.array_equal(line[-1], images[ib])
    assert np.allclose(line[1:-1], vae.interpolate(m, images[ia], images[ib], 5)[0])
    assert vae.interpolation(m, images, digits.y_test, 42, 43, steps=2)[1:] == (0, 1)  # no such digit: 0 and 1


def test_reparam_rows_show_at_most_n_dimensions(digits):
    r = vae.reparameterization(_model(digits, latent_dim=3), digits.x_test[0].numpy(), seed=0)
    rows = vae.reparam_rows(r)
    assert [row["dim"] for row in rows] == ["z1", "z2", "z3"] and len(vae.reparam_rows(r, 2)) == 2
    assert rows[1]["z = mu + sigma*eps"] == r["z"][1] and rows[2]["dL/dsigma"] == r["grad_sigma"][2]


def test_shipped_configs_are_the_shipped_checkpoints_configs():
    assert list(vae.BETA_ORDER) == sorted(vae.SHIPPED_VAES, key=lambda k: vae.SHIPPED_CONFIGS[k].beta)
    for k, name in vae.SHIPPED_VAES.items():
        assert name in vae.SHIPPED
        _, record = checkpoints.load(checkpoints.shipped(name), family=vae.FAMILY)
        assert vae.VAEConfig.from_dict(record["config"]) == vae.SHIPPED_CONFIGS[k], k


def test_latent_figures():
    rng = np.random.default_rng(0)
    mu, sigma, labels = rng.normal(size=(30, 3)), np.full((30, 3), 0.01), np.arange(30) % 10
    uris = fig.tooltip_images(rng.uniform(size=(30, 64)).astype(np.float32), (8, 8))
    assert len(uris) == 30 and uris[0].startswith("data:image/png;base64,")
    spec = fig.picked_latent_map(mu, sigma, labels, uris, 4, dims=(0, 2), zoom=True).to_dict()
    assert "30 test digits" in str(spec) and "z3" in str(spec)
    domain = lambda spec: spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
    assert np.allclose(domain(spec), [mu[4, 0] - 0.3, mu[4, 0] + 0.3])  # 8 sigma is below the 0.3 minimum
    wide = fig.picked_latent_map(mu, 10 * sigma, labels, uris, 4, dims=(0, 2), zoom=True).to_dict()
    assert np.allclose(domain(wide), [mu[4, 0] - 0.8, mu[4, 0] + 0.8])  # else 8 sigma to each side
    assert domain(fig.picked_latent_map(mu, None, labels, uris, 4).to_dict())[0] < mu[:, 0].min()  # all points
    maps = fig.beta_maps([mu[:, :2]] * 3, [0.25, 1.0, 4.0], labels)
    assert [a.text for a in maps.layout.annotations] == ["beta = 0.25", "beta = 1", "beta = 4"]
    assert len(fig.ae_vae_maps(mu[:, :2], mu[:, :2], labels).layout.annotations) == 2


def test_the_steps_are_plain_data():
    assert [s.section for s in text.STEPS][:2] == ["ae", "latent"] and len(text.STEPS) == 10
    assert {s for v in text.VIEWS for s in v.sections} == {s.section for s in text.STEPS}
    assert set(text.MODEL_LABELS) == set(vae.SHIPPED_VAES) | {"live"}
    assert not any(isinstance(v, torch.Tensor) for v in vars(text).values())
