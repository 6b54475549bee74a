"""Shared figure styling and small builders used by every family's figures."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

# Every GenLab figure is drawn on plotly_white. As the default, plotly applies it as each figure is made;
# naming it in update_layout made plotly copy and validate the whole template for every figure (25 ms
# each here: a quarter of the NB page's rerun for its two maps). The figures come out the same.
pio.templates.default = "plotly_white"

#: One colour per class / model, colour-blind safe (Okabe-Ito).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
MODEL_COLORS = {"NB": "#E69F00", "LR": "#0072B2", "GAN": "#D55E00", "VAE": "#009E73",
                "Flow": "#CC79A7", "Diffusion": "#56B4E9", "data": "#555555"}


def compact(fig: go.Figure) -> go.Figure:
    """Send float arrays as float32: plotly ships numpy arrays to the browser as base64 typed arrays,
    so a float64 heatmap costs 8 bytes a cell for precision no screen shows. Halves the page's payload."""
    for trace in fig.data:
        for attr in ("x", "y", "z", "customdata"):
            v = getattr(trace, attr, None)
            if isinstance(v, np.ndarray) and v.dtype == np.float64:
                setattr(trace, attr, v.astype(np.float32))
    return fig


def base_layout(fig: go.Figure, title: str | None = None, height: int = 380, square: bool = False) -> go.Figure:
    compact(fig)
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0))
    if square:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def image_mosaic(images: np.ndarray, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile (n, h, w) grayscale images in [0, 1] into one (H, W) array with ``pad`` pixels between them."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape[:3]
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    out = np.ones((nrows * (h + pad) - pad, ncols * (w + pad) - pad) + images.shape[3:], np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = im
    return out


def ellipse_xy(mean, cov, n_std: float = 2.0, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Points on the ``n_std`` standard-deviation ellipse of a 2-D Gaussian (full or diagonal ``cov``)."""
    cov = np.asarray(cov, float)
    if cov.ndim == 1:
        cov = np.diag(cov)
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, n)
    pts = (vecs @ (n_std * np.sqrt(np.maximum(vals, 0))[:, None] * np.stack([np.cos(t), np.sin(t)])))
    return mean[0] + pts[0], mean[1] + pts[1]


def click_canvas(points, box, title: str, grid: int = 61, height: int = 430, color: str = PALETTE[0]) -> go.Figure:
    """A plane on which a click adds a point: an almost invisible grid of clickable markers under the points.

    ``box`` is ``(x0, x1, y0, y1)`` or a half-width ``b`` for ``[-b, b]^2``. The grid is the first
    trace (``curve_number`` 0) and its points carry their coordinates; axes are drawn square.
    """
    x0, x1, y0, y1 = (-box, box, -box, box) if np.isscalar(box) else box
    gx, gy = np.meshgrid(np.linspace(x0, x1, grid), np.linspace(y0, y1, grid))
    fig = go.Figure(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", name="click to add",
                               marker=dict(size=9, color="rgba(0,0,0,0.02)"),
                               hovertemplate="add (%{x:.2f}, %{y:.2f})<extra></extra>", showlegend=False))
    P = np.asarray(points, float).reshape(-1, 2)
    fig.add_trace(go.Scatter(x=P[:, 0], y=P[:, 1], mode="markers", name=f"your points ({len(P)})",
                             marker=dict(size=6, color=color), hoverinfo="skip"))
    base_layout(fig, title, height=height)
    fig.update_layout(clickmode="event+select", dragmode=False)
    fig.update_xaxes(range=[x0, x1], constrain="domain", zeroline=False, showgrid=False, title=None)
    fig.update_yaxes(range=[y0, y1], scaleanchor="x", scaleratio=1, constrain="domain", zeroline=False,
                     showgrid=False, title=None)
    return fig
