"""Shared figure styling and small builders used by every family's figures."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

#: One colour per class / model, colour-blind safe (Okabe-Ito).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
MODEL_COLORS = {"NB": "#E69F00", "LR": "#0072B2", "GAN": "#D55E00", "VAE": "#009E73",
                "Flow": "#CC79A7", "Diffusion": "#56B4E9", "data": "#555555"}


def base_layout(fig: go.Figure, title: str | None = None, height: int = 380, square: bool = False) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0),
                      template="plotly_white")
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
