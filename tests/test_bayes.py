import numpy as np
import pytest
from sklearn.naive_bayes import GaussianNB

from core import bayes


@pytest.mark.parametrize("dataset", bayes.DATASETS)
def test_datasets_and_fit(dataset):
    cfg = bayes.BayesConfig(dataset=dataset, n_per_class=40, seed=2)
    X, y, names = bayes.make_dataset(cfg)
    assert X.shape[1] == 2 and len(X) == len(y) and len(names) == len(np.unique(y))
    X2, y2, _ = bayes.make_dataset(cfg)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    r = bayes.fit_pair(X, y, seed=2)
    for m in ("NB", "LR"):
        assert 0.5 <= r.scores[m]["train_acc"] <= 1 and r.scores[m]["test_logloss"] > 0


def test_gaussians_follow_separation_and_correlation():
    X, y, _ = bayes.make_dataset(bayes.BayesConfig(n_per_class=20000, separation=3.0, correlation=0.6))
    assert np.allclose(X[y == 1].mean(0) - X[y == 0].mean(0), [3, 0], atol=0.05)
    assert abs(np.corrcoef(X[y == 0].T)[0, 1] - 0.6) < 0.02


def test_bad_config_raises():
    with pytest.raises(ValueError, match="valid choices"):
        bayes.BayesConfig(dataset="mnist")
    with pytest.raises(ValueError, match="different"):
        bayes.make_dataset(bayes.BayesConfig(dataset="wine", features=(1, 1)))


@pytest.mark.parametrize("dataset", ["gaussians", "iris", "breast_cancer"])
def test_nb_as_linear_model_reproduces_predict_proba(dataset):
    X, y, _ = bayes.make_dataset(bayes.BayesConfig(dataset=dataset, n_per_class=50, correlation=0.0))
    nb = GaussianNB().fit(X, y)
    tied = bayes.tie_variances(nb)
    a, w, b = bayes.nb_log_odds(tied)
    assert np.abs(a).max() == 0  # shared variances: exactly linear
    assert np.abs(bayes.proba_from_log_odds(a, w, b, X) - tied.predict_proba(X)).max() < 1e-6
    a, w, b = bayes.nb_log_odds(nb)  # per-class variances: quadratic, still exact
    assert np.abs(a).max() > 0
    assert np.abs(bayes.proba_from_log_odds(a, w, b, X) - nb.predict_proba(X)).max() < 1e-6


def test_lr_log_odds_match_decision_function():
    X, y, _ = bayes.make_dataset(bayes.BayesConfig(n_per_class=60))
    lr = bayes.make_lr().fit(X, y)
    w, b = bayes.lr_log_odds(lr)
    assert np.allclose(X @ w[0] + b[0], lr.decision_function(X))


def test_sampling_from_the_joint_recovers_nb_parameters():
    X, y, _ = bayes.make_dataset(bayes.BayesConfig(n_per_class=100, separation=3))
    nb = GaussianNB().fit(X, y)
    Xs, ys = bayes.sample_joint(nb, 40000, seed=0)
    assert np.array_equal(Xs, bayes.sample_joint(nb, 40000, seed=0)[0])
    for k in (0, 1):
        assert np.allclose(Xs[ys == k].mean(0), nb.theta_[k], atol=0.03)
        assert np.allclose(Xs[ys == k].var(0), nb.var_[k], rtol=0.05)
    assert abs((ys == 1).mean() - nb.class_prior_[1]) < 0.01


def test_nb_wins_with_little_data_on_digits_0_vs_1():
    c = bayes.learning_curves("digits_0v1", n_splits=10, seed=0)
    nb, lr = c["NB"].mean(1), c["LR"].mean(1)
    assert nb[0] < lr[0]          # Ng & Jordan: NB better at the smallest training size
    assert lr[-1] <= nb[-1]       # and LR at least as good with plenty
    assert c["NB"].shape == (len(c["sizes"]), 10)


def test_learning_curve_every_prefix_holds_every_class():
    _, y = bayes.curve_data("digits")
    for tr, _ in bayes._interleaved_splits(y, 3, 0.3, 0):
        assert len(np.unique(y[tr[:10]])) == 10


def test_duplicated_features_hurt_nb_not_lr():
    X, y, _ = bayes.make_dataset(bayes.BayesConfig(n_per_class=150, separation=2))
    rows = bayes.duplicate_experiment(X, y, copies=(1, 8))
    assert rows[1]["NB test log-loss"] > rows[0]["NB test log-loss"] + 0.2
    assert abs(rows[1]["LR test log-loss"] - rows[0]["LR test log-loss"]) < 0.05


def test_figures_are_drawn_on_plotly_white_without_naming_it_per_figure():
    """The figure builders rely on plotly_white being the default template (set once in core.viz.common):
    the figure carries exactly that template, as when each figure named it (which cost 25 ms a figure)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from core.viz import bayes as fig
    from core.viz.common import base_layout

    cfg = bayes.BayesConfig(n_per_class=30)
    X, y, names = bayes.make_dataset(cfg)
    r = bayes.fit_pair(X, y, test_size=cfg.test_size, seed=cfg.seed)
    f = fig.posterior_map(*bayes.proba_grid(r.nb, bayes.plot_bounds(X), resolution=20), X, y, names, "NB")
    named = go.Figure(f).update_layout(template="plotly_white")
    assert f.to_dict() == named.to_dict()
    assert f.to_dict()["layout"]["template"] == pio.templates["plotly_white"].to_plotly_json()
    assert base_layout(go.Figure(), "t").layout.template.layout.plot_bgcolor == "white"
