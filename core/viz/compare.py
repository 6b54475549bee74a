"""Figures of the compare page: the four families' samples beside the data, curves on one time axis.

Data in, plotly figure out; no Streamlit, no training.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.common import MODEL_COLORS, base_layout

COLORS = {"gan": MODEL_COLORS["GAN"], "vae": MODEL_COLORS["VAE"], "flow": MODEL_COLORS["Flow"],
          "diffusion": MODEL_COLORS["Diffusion"], "kde": "#777777", "data": MODEL_COLORS["data"]}
NAMES = {"gan": "GAN", "vae": "VAE", "flow": "Flow", "diffusion": "Diffusion", "kde": "KDE (reference)",
         "data": "Held-out data"}


def box_of(points: np.ndarray, margin: float = 0.15) -> tuple:
    """A square (x0, x1, y0, y1) around the points (robust: 0.5-99.5 percentiles), shared by every panel."""
    P = np.asarray(points, float).reshape(-1, 2)
    lo, hi = np.percentile(P, 0.5, axis=0), np.percentile(P, 99.5, axis=0)
    c, r = (lo + hi) / 2, (1 + margin) * float(max(hi - lo)) / 2 + 1e-3
    return (float(c[0] - r), float(c[0] + r), float(c[1] - r), float(c[1] + r))


def samples_grid(test: np.ndarray, samples: dict, order=("gan", "vae", "flow", "diffusion"), box=None,
                 subtitles: dict | None = None, ncols: int | None = None, panel: int = 240) -> go.Figure:
    """One square panel per model (the held-out data first), all on the same axes; ``ncols`` panels per row
    (default: all in one row), each about ``panel`` pixels high."""
    keys = ["data"] + [k for k in order if k in samples]
    box = box or box_of(test)
    subtitles = subtitles or {}
    ncols = max(1, min(ncols or len(keys), len(keys)))
    nrows = -(-len(keys) // ncols)
    fig = make_subplots(nrows, ncols, subplot_titles=[subtitles.get(k, NAMES.get(k, k)) for k in keys],
                        horizontal_spacing=0.012, vertical_spacing=0.08 if nrows > 1 else 0.0)
    for j, k in enumerate(keys):
        row, col = divmod(j, ncols)
        P = np.asarray(test if k == "data" else samples[k], float).reshape(-1, 2)
        P = np.round(P[np.isfinite(P).all(1)], 3)
        fig.add_trace(go.Scattergl(x=P[:, 0], y=P[:, 1], mode="markers", name=NAMES.get(k, k), showlegend=False,
                                   marker=dict(size=3, color=COLORS.get(k, "#333"), opacity=0.55),
                                   hoverinfo="skip"), row + 1, col + 1)
        fig.update_xaxes(range=[box[0], box[1]], showticklabels=False, zeroline=False, row=row + 1, col=col + 1)
        fig.update_yaxes(range=[box[2], box[3]], showticklabels=False, zeroline=False, row=row + 1, col=col + 1)
        # equal aspect: a ring is drawn round, whatever the panel's width
        fig.update_yaxes(scaleanchor=f"x{j + 1 if j else ''}", scaleratio=1, constrain="domain", constraintoward="top",
                         row=row + 1, col=col + 1)
        fig.update_xaxes(constrain="domain", row=row + 1, col=col + 1)
    base_layout(fig, None, height=int(panel * nrows + 40))
    fig.update_layout(margin=dict(l=5, r=5, b=5))
    return fig


def curves_figure(curves: dict, floor: float | None = None, budget: float | None = None, title: str | None = None,
                  height: int = 360) -> go.Figure:
    """Sliced Wasserstein distance of each family's samples to the held-out data against training seconds (log y),
    with the floor that real training points reach (dotted)."""
    fig = go.Figure()
    for fam, pts in curves.items():
        pts = [p for p in pts if p.get("swd") is not None]
        if not pts:
            continue
        fig.add_trace(go.Scatter(x=[p["seconds"] for p in pts], y=[p["swd"] for p in pts], mode="lines+markers",
                                 name=NAMES.get(fam, fam), line=dict(color=COLORS.get(fam), width=2),
                                 customdata=[p["step"] for p in pts],
                                 hovertemplate="%{x:.1f} s, step %{customdata:,}: %{y:.3f}<extra>"
                                 + NAMES.get(fam, fam) + "</extra>"))
    if floor is not None:  # a trace, not a shape: shapes' labels misplace on log axes
        xs = [p["seconds"] for pts in curves.values() for p in pts] + [budget or 0]
        fig.add_trace(go.Scatter(x=[0, max(xs) if xs else 1], y=[floor, floor], mode="lines",
                                 name="real training points (the floor)", line=dict(color="#555", dash="dot"),
                                 hovertemplate="floor: %{y:.3f}<extra></extra>"))
    if budget:
        fig.add_vline(x=budget, line=dict(color="#999", dash="dash"))
    base_layout(fig, title, height=height)
    fig.update_xaxes(title="training seconds", rangemode="tozero")
    fig.update_yaxes(title="sliced Wasserstein to held-out data", type="log")
    return fig


def loss_panels(curves: dict, labels: dict, height: int = 260) -> go.Figure:
    """Each family's own training loss against training seconds, one panel each (their units differ)."""
    fams = [f for f in curves if any(p.get("loss") is not None for p in curves[f])]
    if not fams:
        return base_layout(go.Figure(), "No training losses recorded", height=height)
    fig = make_subplots(1, len(fams), subplot_titles=[f"{NAMES.get(f, f)}: {labels.get(f, '')}" for f in fams],
                        horizontal_spacing=0.06)
    for j, f in enumerate(fams, start=1):
        pts = [p for p in curves[f] if p.get("loss") is not None]
        fig.add_trace(go.Scatter(x=[p["seconds"] for p in pts], y=[p["loss"] for p in pts], mode="lines+markers",
                                 name=NAMES.get(f, f), showlegend=False, line=dict(color=COLORS.get(f), width=2),
                                 hovertemplate="%{x:.1f} s: %{y:.3f}<extra></extra>"), 1, j)
        fig.update_xaxes(title="training seconds", row=1, col=j)
    return base_layout(fig, None, height=height)
