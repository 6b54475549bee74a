"""Figures of the discriminative-vs-generative page."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.viz.common import MODEL_COLORS, PALETTE, base_layout, ellipse_xy


def _scatter(fig, X, y, class_names, symbol="circle", name_suffix="", opacity=0.85, size=6, showlegend=True):
    for k in np.unique(y):
        m = y == k
        fig.add_trace(go.Scatter(x=X[m, 0], y=X[m, 1], mode="markers", name=f"{class_names[k]}{name_suffix}",
                                   marker=dict(color=PALETTE[k % len(PALETTE)], symbol=symbol, size=size,
                                               opacity=opacity, line=dict(width=0.5, color="white")),
                                   showlegend=showlegend))


def posterior_map(xs, ys, P, X, y, class_names, title, ellipses=None, extra=None, axis_names=("x1", "x2")):
    """P(y|x) over the plane (binary: P(class 1|x); several classes: the winning class's probability)
    with the decision boundary, the data and optionally NB's 2-sigma class ellipses and generated points."""
    fig = go.Figure()
    # float32 grids: plotly sends numpy arrays as binary, so this halves what every student downloads (the
    # colours cannot show the difference); the boundary's contour needs only every other grid line
    xs, ys, P = (np.asarray(a, np.float32) for a in (xs, ys, P))
    if P.shape[-1] == 2:
        z, zname, cs = P[..., 1], f"P({class_names[1]} | x)", [[0, PALETTE[0]], [0.5, "#ffffff"], [1, PALETTE[1]]]
        fig.add_trace(go.Heatmap(x=xs, y=ys, z=z, colorscale=cs, zmin=0, zmax=1, opacity=0.55, name=zname,
                                 colorbar=dict(title="P(y=1|x)", thickness=10), hovertemplate="P=%{z:.2f}<extra></extra>"))
        fig.add_trace(go.Contour(x=xs[::2], y=ys[::2], z=z[::2, ::2], contours=dict(start=0.5, end=0.5, coloring="none"),
                                 line=dict(color="black", width=2), showscale=False, hoverinfo="skip", name="boundary"))
    else:
        win = P.argmax(-1)
        fig.add_trace(go.Heatmap(x=xs, y=ys, z=win, colorscale=[[i / max(1, P.shape[-1] - 1), PALETTE[i]] for i in range(P.shape[-1])],
                                 opacity=0.25, showscale=False, hoverinfo="skip"))
        fig.add_trace(go.Heatmap(x=xs, y=ys, z=P.max(-1), colorscale="Greys", reversescale=True, opacity=0.25,
                                 zmin=1 / P.shape[-1], zmax=1, colorbar=dict(title="max P(y|x)", thickness=10),
                                 hovertemplate="max P=%{z:.2f}<extra></extra>"))
    _scatter(fig, X, y, class_names)
    if ellipses is not None:
        # not in the legend (the page's caption names them; hovering a line does too): NB's legend then takes as many
        # rows as LR's, and the two maps stand level side by side
        for k, (mean, var) in enumerate(ellipses):
            for n_std in (1, 2):
                ex, ey = ellipse_xy(mean, var, n_std)
                fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color=PALETTE[k], width=2, dash="dot" if n_std == 2 else "solid"),
                                         name=f"NB's Gaussian for {class_names[k]}, {n_std} std", showlegend=False,
                                         hoverinfo="name"))
            fig.add_trace(go.Scatter(x=[mean[0]], y=[mean[1]], mode="markers", marker=dict(symbol="x", size=11, color="black"),
                                     showlegend=False, hovertemplate=f"mu_{k} = (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))
    if extra is not None:
        Xg, yg = extra
        _scatter(fig, Xg, yg, class_names, symbol="diamond-open", name_suffix=" (generated)", size=8, opacity=1.0)
    fig.update_xaxes(range=[xs[0], xs[-1]], title=axis_names[0])
    fig.update_yaxes(range=[ys[0], ys[-1]], title=axis_names[1])
    return base_layout(fig, title, height=420)


def weights_bar(nb_w, nb_b, lr_w, lr_b, feature_labels, nb_a=None, title="Log-odds weights"):
    """NB's weights (computed from its means, variances and priors) beside LR's fitted coefficients."""
    names = list(feature_labels) + ["intercept"]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=list(nb_w) + [nb_b], name="naive Bayes (from its Gaussians)", marker_color=MODEL_COLORS["NB"]))
    fig.add_trace(go.Bar(x=names, y=list(lr_w) + [lr_b], name="logistic regression (fitted)", marker_color=MODEL_COLORS["LR"]))
    if nb_a is not None:
        fig.add_trace(go.Bar(x=[f"{f}²" for f in feature_labels], y=list(nb_a), name="naive Bayes quadratic terms",
                             marker_color="#8c564b"))
    fig.update_layout(barmode="group", yaxis_title="coefficient of the log-odds")
    return base_layout(fig, title, height=340)


def learning_curve_fig(curves, title):
    """Mean test error against training examples per class for NB and LR, with a band of +-1 standard
    deviation over the random splits (how much one split's error varies, not the mean's uncertainty)."""
    fig = go.Figure()
    m = curves["sizes"]
    for name in ("NB", "LR"):
        err = curves[name]
        mean, sd = err.mean(1), err.std(1, ddof=1)
        c = MODEL_COLORS[name]
        fig.add_trace(go.Scatter(x=np.r_[m, m[::-1]], y=np.r_[mean + sd, np.maximum(mean - sd, 0)[::-1]], fill="toself",
                                 fillcolor=c, opacity=0.2, line=dict(width=0), hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=m, y=mean, mode="lines+markers", name={"NB": "naive Bayes", "LR": "logistic regression"}[name],
                                 customdata=sd, line=dict(color=c, width=3),
                                 hovertemplate="m=%{x} per class: error %{y:.1%} ± %{customdata:.1%}<extra></extra>"))
    fig.update_xaxes(type="log", title="training examples per class m", tickvals=list(m))
    fig.update_yaxes(title="test error (mean ± 1 std over splits)", rangemode="tozero", tickformat=".0%")
    return base_layout(fig, title, height=380)


def duplicates_fig(rows):
    """Test log-loss of NB and LR as one feature is copied k times."""
    k = [r["copies"] for r in rows]
    fig = go.Figure()
    for name in ("NB", "LR"):
        fig.add_trace(go.Scatter(x=k, y=[r[f"{name} test log-loss"] for r in rows], mode="lines+markers",
                                 name={"NB": "naive Bayes", "LR": "logistic regression"}[name], line=dict(color=MODEL_COLORS[name], width=3)))
    fig.update_xaxes(type="log", title="copies of feature x1", tickvals=k)
    fig.update_yaxes(title="test log-loss (lower is better)", rangemode="tozero")
    return base_layout(fig, "Duplicated evidence", height=330)
