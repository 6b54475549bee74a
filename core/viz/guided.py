"""Figures of the guided-diffusion page: the fidelity/diversity curve against the guidance scale, the softmax
temperature analogy, and image grids (re-using the diffusion page's static mosaics).

Data in, figure out (plotly / numpy); no Streamlit, no torch.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.common import PALETTE, base_layout
from core.viz.diffusion import panel_image

GUIDANCE_COLORS = {"cfg": PALETTE[0], "classifier": PALETTE[5], "none": "#777777"}
GUIDANCE_NAMES = {"cfg": "classifier-free", "classifier": "classifier guidance", "none": "no guidance"}

__all__ = ["tradeoff_fig", "frontier_fig", "temperature_fig", "images", "scale_grid", "GUIDANCE_COLORS"]


def images(imgs01: np.ndarray, ncols: int = 8, scale: int = 4) -> np.ndarray:
    """Digits (n, H, W) in [0, 1] -> a static RGB mosaic (black background, white strokes) for ``st.image``."""
    return panel_image(2 * np.asarray(imgs01, np.float32) - 1, ncols=ncols, scale=scale)


def scale_grid(rows: np.ndarray, scale: int = 4) -> np.ndarray:
    """A (r, c, H, W) array of digits in [0, 1] (rows: starting noises, columns: guidance scales) as one mosaic."""
    rows = np.asarray(rows, np.float32)
    r, c = rows.shape[:2]
    return images(rows.reshape((r * c,) + rows.shape[2:]), ncols=c, scale=scale)


def tradeoff_fig(rows: list[dict], height: int = 330, mark: float | None = None) -> go.Figure:
    """Fidelity (share classified as the requested digit; dotted: mean probability of that digit) and diversity
    (relative to real digits) against the guidance scale, one line per guidance kind. ``rows`` as
    :func:`core.guided.tradeoff` returns them; ``mark``: a vertical line at the chosen scale."""
    fig = make_subplots(1, 2, subplot_titles=("fidelity (evaluator)", "diversity (1 = as varied as real digits)"),
                        horizontal_spacing=0.1)
    for kind in ("classifier", "cfg"):
        rs = sorted((r for r in rows if r["guidance"] == kind), key=lambda r: r["scale"])
        if not rs:
            continue
        s = [r["scale"] for r in rs]
        color, name = GUIDANCE_COLORS[kind], GUIDANCE_NAMES[kind]
        fig.add_trace(go.Scatter(x=s, y=[r["fidelity"] for r in rs], name=name, legendgroup=kind, mode="lines+markers",
                                 line=dict(color=color, width=2.5),
                                 hovertemplate=f"{name}<br>s=%{{x}}<br>classified as asked: %{{y:.1%}}<extra></extra>"), 1, 1)
        fig.add_trace(go.Scatter(x=s, y=[r["confidence"] for r in rs], name=f"{name}: mean p(y)", legendgroup=kind,
                                 showlegend=False, mode="lines", line=dict(color=color, width=1.5, dash="dot"),
                                 hovertemplate=f"{name}<br>s=%{{x}}<br>mean probability of the digit: %{{y:.3f}}<extra></extra>"),
                      1, 1)
        fig.add_trace(go.Scatter(x=s, y=[r["diversity_rel"] for r in rs], name=name, legendgroup=kind, showlegend=False,
                                 mode="lines+markers", line=dict(color=color, width=2.5),
                                 hovertemplate=f"{name}<br>s=%{{x}}<br>diversity %{{y:.2f}} of real<extra></extra>"), 1, 2)
    fig.add_hline(y=1.0, line=dict(color="#999", dash="dash"), row=1, col=2)
    fig.add_annotation(x=1, y=1.0, xref="x2 domain", yref="y2", text="real digits", showarrow=False, yshift=8,
                       xanchor="right", font=dict(size=11, color="#777"))
    if mark is not None:
        for col in (1, 2):
            fig.add_vline(x=mark, line=dict(color="#888", dash="dot"), row=1, col=col)
    fig.update_xaxes(title_text="guidance scale s")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    return base_layout(fig, height=height)


def frontier_fig(rows: list[dict], height: int = 330) -> go.Figure:
    """The trade-off itself: diversity against fidelity, one point per scale (labelled), one line per guidance kind."""
    fig = go.Figure()
    for kind in ("classifier", "cfg"):
        rs = sorted((r for r in rows if r["guidance"] == kind), key=lambda r: r["scale"])
        if not rs:
            continue
        fig.add_trace(go.Scatter(x=[r["fidelity"] for r in rs], y=[r["diversity_rel"] for r in rs],
                                 text=[f"{r['scale']:g}" for r in rs], mode="lines+markers+text",
                                 textposition="top center", name=GUIDANCE_NAMES[kind],
                                 line=dict(color=GUIDANCE_COLORS[kind], width=2),
                                 hovertemplate="s=%{text}<br>fidelity %{x:.1%}<br>diversity %{y:.2f}<extra></extra>"))
    fig.update_xaxes(title_text="fidelity", tickformat=".0%")
    fig.update_yaxes(title_text="diversity (of real)")
    base_layout(fig, height=height, title="Each scale is a point on the trade-off (labels: s)")
    return fig


def temperature_fig(probs, scales=(0.0, 1.0, 3.0), labels=None, height: int = 220) -> go.Figure:
    """The analogy: a distribution p raised to the power s and renormalised, p^s / sum p^s (a softmax of s * log p,
    i.e. temperature 1/s). s = 0 is uniform, s = 1 is p itself, large s piles everything on the most likely class."""
    p = np.asarray(probs, np.float64)
    p = p / p.sum()
    labels = list(labels) if labels is not None else [str(i) for i in range(len(p))]
    fig = make_subplots(1, len(scales), subplot_titles=[f"s = {s:g} (temperature {'∞' if s == 0 else f'{1 / s:.2g}'})"
                                                        for s in scales], horizontal_spacing=0.05)
    for i, s in enumerate(scales):
        q = p ** s
        q = q / q.sum()
        fig.add_trace(go.Bar(x=labels, y=q, marker_color=PALETTE[0], showlegend=False,
                             hovertemplate="%{x}: %{y:.2f}<extra></extra>"), 1, i + 1)
    fig.update_yaxes(range=[0, 1], showticklabels=False)
    fig.update_yaxes(showticklabels=True, row=1, col=1)
    return base_layout(fig, height=height)
