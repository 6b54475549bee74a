"""Figures of the flow page: learned densities, samples, layer-by-layer warps, NLL curves, anomaly maps.

Data in, plotly figure out; no Streamlit, no training.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.viz.common import MODEL_COLORS, PALETTE, base_layout

FLOW = MODEL_COLORS["Flow"]
DATA = MODEL_COLORS["data"]
HEAT = "Viridis"
TOY_BOX = (-3.5, 3.5, -3.5, 3.5)  # every toy set fits in it


# ------------------------------------------------------------------------------------ plane geometry

def data_box(X) -> tuple:
    """A square box holding the points with a margin (the toy sets all fit :data:`TOY_BOX`)."""
    lo, hi = X.min(0), X.max(0)
    if lo.min() >= -3.2 and hi.max() <= 3.2:
        return TOY_BOX
    c, r = (lo + hi) / 2, 0.6 * max(hi - lo) + 1e-3
    return (float(c[0] - r), float(c[0] + r), float(c[1] - r), float(c[1] + r))


def layer_box(points, box) -> tuple:
    """The frame of the layer view: one fixed frame for every layer on the toy sets' box (so the warp can be
    followed), else one that holds ``points`` (this layer's, in the user's units)."""
    if box == TOY_BOX:
        return (-4.0, 4.0, -4.0, 4.0)
    lo, hi = np.percentile(points, 0.5, axis=0), np.percentile(points, 99.5, axis=0)
    ctr, r = (lo + hi) / 2, 0.65 * float(max(hi - lo)) + 1e-3
    return (ctr[0] - r, ctr[0] + r, ctr[1] - r, ctr[1] + r)


def warp_grid(start, standard_base: bool, box=None):
    """The colours (angle about the centre) of the points ``start`` that the layer view follows, and the grid lines
    ((120, 2) arrays, 11 vertical then 11 horizontal) drawn with them: on the standard normal's [-3, 3]^2 (``box``
    None, sampling from N(0, I)), over where a mixture base's draws lie (``box`` None otherwise), or over ``box``
    (the data side)."""
    ticks = None
    if box is None and standard_base:
        colors = np.arctan2(start[:, 1], start[:, 0])
        ticks = np.linspace(-2.5, 2.5, 11)
        lo, hi = -3.0, 3.0
    else:  # a mixture base lives in data units: colour by side, grid over where its draws are
        c = start - start.mean(0)
        colors = np.arctan2(c[:, 1], c[:, 0])
        if box is None:
            lo, hi = float(np.percentile(start, 0.5)) - 0.3, float(np.percentile(start, 99.5)) + 0.3
        else:
            x0, x1, y0, y1 = box
            lo, hi = min(x0, y0), max(x1, y1)
    ticks = np.linspace(lo + (hi - lo) / 12, hi - (hi - lo) / 12, 11) if ticks is None else ticks
    t = np.linspace(lo, hi, 120)
    lines = [np.stack([np.full_like(t, c), t], 1) for c in ticks] + [np.stack([t, np.full_like(t, c)], 1) for c in ticks]
    return colors, lines


def uniform_points(box, n: int, seed: int) -> np.ndarray:
    """``n`` points drawn uniformly over ``box`` (the anomaly view's injected outliers), float32 (n, 2)."""
    rng = np.random.default_rng(seed)
    x0, x1, y0, y1 = box
    return np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)], 1).astype(np.float32)


def _square(fig: go.Figure, box) -> go.Figure:
    x0, x1, y0, y1 = box
    fig.update_xaxes(range=[x0, x1], constrain="domain", zeroline=False, title=None)
    fig.update_yaxes(range=[y0, y1], scaleanchor="x", scaleratio=1, constrain="domain", zeroline=False, title=None)
    return fig


def _points(X, name, color, size=3, opacity=0.6, symbol="circle", **kw):
    X = np.round(np.asarray(X, float).reshape(-1, 2), 4)
    return go.Scattergl(x=X[:, 0], y=X[:, 1], mode="markers", name=name,
                        marker=dict(size=size, color=color, opacity=opacity, symbol=symbol), **kw)


def density_map(xs, ys, logp, box, title: str, points=None, points_name="data", log_scale: bool = False,
                height: int = 420, threshold: float | None = None) -> go.Figure:
    """Heatmap of p(x) = exp(ln p(x)) (or of ln p when ``log_scale``) with optional points on top.

    ``threshold`` draws the contour ln p = threshold (the anomaly boundary) in white.
    """
    logp = np.asarray(logp, float)
    # rounded: the browser needs a colour per pixel, not 17 digits (a third of the JSON, and of the redraw)
    z = np.round(np.maximum(logp, logp.max() - 12), 3) if log_scale else np.round(np.exp(logp), 5)
    fig = go.Figure(go.Heatmap(x=np.round(xs, 4), y=np.round(ys, 4), z=z, colorscale=HEAT, showscale=True,
                               colorbar=dict(title="ln p" if log_scale else "p(x)", thickness=10, len=0.8),
                               hovertemplate="x=%{x:.2f}, y=%{y:.2f}<br>" + ("ln p" if log_scale else "p")
                               + "=%{z:.3g}<extra></extra>"))
    if threshold is not None and np.isfinite(threshold):
        # the contour on every other pixel: the browser traces it, and half the grid looks the same
        fig.add_trace(go.Contour(x=np.round(xs[::2], 4), y=np.round(ys[::2], 4), z=np.round(logp[::2, ::2], 3),
                                 showscale=False, contours=dict(
            start=threshold, end=threshold, size=1, coloring="none"), line=dict(color="white", width=2, dash="dash"),
            name="threshold", hoverinfo="skip", showlegend=True))
    if points is not None and len(points):
        fig.add_trace(_points(points, points_name, "white", size=3, opacity=0.5))
    base_layout(fig, title, height=height)
    return _square(fig, box)


def scatter_map(sets: list[tuple[str, np.ndarray, str]], box, title: str, height: int = 420) -> go.Figure:
    """Several point clouds (name, points, colour) on square axes."""
    fig = go.Figure([_points(X, name, color, size=3, opacity=0.55) for name, X, color in sets])
    base_layout(fig, title, height=height)
    return _square(fig, box)


def warp_view(points, colors, lines, box, title: str, height: int = 430) -> go.Figure:
    """Points (coloured by where they started) and warped grid lines after some layers."""
    fig = go.Figure()
    if len(lines):  # all grid lines as one trace, separated by gaps (NaN rows)
        gap = np.full((1, 2), np.nan)
        L = np.concatenate([np.concatenate([np.asarray(line, float), gap]) for line in lines])
        fig.add_trace(go.Scattergl(x=np.round(L[:, 0], 4), y=np.round(L[:, 1], 4), mode="lines", name="grid",
                                   line=dict(color="rgba(90,90,90,0.45)", width=1), hoverinfo="skip",
                                   showlegend=False, connectgaps=False))
    P = np.round(np.asarray(points, float), 4)
    fig.add_trace(go.Scattergl(x=P[:, 0], y=P[:, 1], mode="markers", name="points",
                               marker=dict(size=3, color=colors, colorscale="Twilight", opacity=0.75),
                               hoverinfo="skip", showlegend=False))
    base_layout(fig, title, height=height)
    return _square(fig, box)


def logdet_bars(per_layer: np.ndarray, names: list[str], current: int, title: str, height: int = 300) -> go.Figure:
    """Mean ln|det J| of each layer; the layers applied so far are coloured, the rest grey."""
    per_layer = np.asarray(per_layer, float)
    colors = [FLOW if i < current else "#CCCCCC" for i in range(len(per_layer))]
    fig = go.Figure(go.Bar(x=names, y=per_layer, marker_color=colors,
                           hovertemplate="%{x}: mean ln|det J| = %{y:.3f}<extra></extra>"))
    fig.add_hline(y=0, line_color="#888888", line_width=1)
    base_layout(fig, title, height=height)
    fig.update_yaxes(title="mean ln|det J| (nats)")
    return fig


def nll_curves(history: list[dict], references: dict[str, float], title: str, height: int = 360) -> go.Figure:
    """Train and test NLL (nats) against the step, with the reference densities' test NLL as lines."""
    steps = [h["step"] for h in history]
    fig = go.Figure()
    if history:
        fig.add_trace(go.Scatter(x=steps, y=[h["train/nll"] for h in history], name="flow, train", mode="lines",
                                 line=dict(color=FLOW, dash="dot")))
        fig.add_trace(go.Scatter(x=steps, y=[h["test/nll"] for h in history], name="flow, test", mode="lines",
                                 line=dict(color=FLOW, width=3)))
    for (name, value), color in zip(references.items(), (PALETTE[1], PALETTE[2], PALETTE[4])):
        fig.add_hline(y=value, line_color=color, line_dash="dash", annotation_text=f"{name}: {value:.3f}",
                      annotation_position="top right")
    base_layout(fig, title, height=height)
    fig.update_xaxes(title="gradient step")
    fig.update_yaxes(title="negative log-likelihood (nats / point)")
    if history:
        vals = [h["test/nll"] for h in history] + list(references.values())
        lo, hi = min(vals), np.percentile([h["train/nll"] for h in history] + [h["test/nll"] for h in history], 90)
        fig.update_yaxes(range=[lo - 0.15 * (hi - lo + 0.1), hi + 0.1 * (hi - lo + 0.1)])
    return fig


def anomaly_map(xs, ys, logp, box, points, scores, threshold: float, title: str, probe=None,
                probe_flagged: bool = False, outliers=None, height: int = 450) -> go.Figure:
    """ln p(x) as shading, the threshold contour, the scored points (flagged ones in red), and a probe point."""
    fig = density_map(xs, ys, logp, box, title, log_scale=True, height=height, threshold=threshold)
    P = np.asarray(points, float)
    flagged = np.asarray(scores) < threshold
    fig.add_trace(_points(P[~flagged], "normal", "white", size=4, opacity=0.6,
                          customdata=np.asarray(scores)[~flagged], hovertemplate="ln p=%{customdata:.2f}<extra></extra>"))
    fig.add_trace(_points(P[flagged], f"flagged ({int(flagged.sum())})", "#FF3B30", size=8, opacity=0.95,
                          symbol="x", customdata=np.asarray(scores)[flagged],
                          hovertemplate="ln p=%{customdata:.2f}<extra></extra>"))
    if outliers is not None and len(outliers):
        fig.add_trace(go.Scattergl(x=outliers[:, 0], y=outliers[:, 1], mode="markers", name="injected outliers",
                                   marker=dict(size=11, color="rgba(0,0,0,0)", line=dict(color="#FFB000", width=1.5)),
                                   hoverinfo="skip"))
    if probe is not None:
        fig.add_trace(go.Scatter(x=[probe[0]], y=[probe[1]], mode="markers", name="your point",
                                 marker=dict(size=16, symbol="star", color="#FF3B30" if probe_flagged else "#00C853",
                                             line=dict(color="black", width=1))))
    return fig
