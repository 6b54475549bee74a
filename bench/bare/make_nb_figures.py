"""Save the two figures GenLab's NB page opens with as JSON, for the bare reference app (bench/bare_app.py).

    .venv/bin/python bench/bare/make_nb_figures.py      # writes bench/bare/nb_figures.json

Built the way ``pages/bayes.py`` builds them for its default settings (two Gaussian classes, 100 points per
class, separation 2, no correlation, seed 0): the same core functions and figure builder, so the bare app
sends Streamlit the same plotly specs, byte for byte, as GenLab's first view of the page does.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = HERE / "nb_figures.json"


def nb_figures():
    """[NB map, LR map]: plotly figures of the page's default view ("P(y | x)", or walkthrough step 1)."""
    from core import bayes
    from core.viz import bayes as fig

    cfg = bayes.BayesConfig()
    X, y, class_names = bayes.make_dataset(cfg)
    res = bayes.fit_pair(X, y, test_size=cfg.test_size, seed=cfg.seed)
    bounds = bayes.plot_bounds(X)
    xs, ys, P_nb = bayes.proba_grid(res.nb, bounds)
    _, _, P_lr = bayes.proba_grid(res.lr, bounds)
    ellipses = list(zip(res.nb.theta_, res.nb.var_))
    axis_names = ("x1", "x2")
    return [fig.posterior_map(xs, ys, P_nb, X, y, class_names, "Naive Bayes (generative)", ellipses=ellipses,
                              axis_names=axis_names),
            fig.posterior_map(xs, ys, P_lr, X, y, class_names, "Logistic regression (discriminative)",
                              axis_names=axis_names)]


def main() -> None:
    figs = nb_figures()
    OUT.write_text(json.dumps([json.loads(f.to_json()) for f in figs]))
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1e3:.0f} kB, {len(figs)} figures)")


if __name__ == "__main__":
    main()
