"""Figures of the text-to-image page: image grids, the guidance trade-off curve, the latent channels.

Data in, figure out; no Streamlit, no models. Images are float (n, H, W, 3) in [0, 1].
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.metrics import mosaic
from core.viz.common import PALETTE, base_layout


def image_grid(images: np.ndarray, ncols: int = 8, scale: int = 4, pad_value: float = 1.0) -> np.ndarray:
    """A static RGB uint8 mosaic (for ``st.image``) of (n, H, W, 3) or (n, H, W) images in [0, 1], white gaps,
    each pixel upscaled ``scale`` times (nearest neighbour: a 32-pixel image stays crisp)."""
    imgs = np.clip(np.asarray(images, np.float32), 0, 1)
    if imgs.ndim == 3:
        imgs = np.repeat(imgs[..., None], 3, -1)
    m = mosaic(imgs, ncols=min(ncols, len(imgs)), pad=1, fill=pad_value)
    m = np.kron(m, np.ones((scale, scale, 1), np.float32))
    return (m * 255).round().astype(np.uint8)


def to_png(image: np.ndarray) -> bytes:
    """uint8 (H, W, 3) -> PNG bytes (for a download button)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def latent_channels(latents: np.ndarray) -> np.ndarray:
    """(n, C, h, w) latents -> (n * C, h, w) grey images in [0, 1], each channel scaled to its own range."""
    z = np.asarray(latents, np.float32)
    n, c = z.shape[:2]
    lo = z.min(axis=(2, 3), keepdims=True)
    hi = z.max(axis=(2, 3), keepdims=True)
    return ((z - lo) / np.maximum(hi - lo, 1e-6)).reshape(n * c, *z.shape[2:])


def tradeoff_fig(rows: list[dict], current: float | None = None, height: int = 320) -> go.Figure:
    """Prompt fidelity (left axis, %) and variety (right axis, pixels) against the guidance scale.

    ``rows``: [{"scale", "fidelity", "exact", "shape", "variety"}], one per scale (as
    :func:`core.text_to_image.guidance_rows` returns them), fidelity, exact and shape in [0, 1], variety in pixels."""
    rows = sorted(rows, key=lambda r: r["scale"])
    s = [r["scale"] for r in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=s, y=[100 * r["fidelity"] for r in rows], name="fidelity (% of asked attributes)",
                             mode="lines+markers", line=dict(color=PALETTE[0], width=3)), secondary_y=False)
    fig.add_trace(go.Scatter(x=s, y=[100 * r["shape"] for r in rows], name="right shape (% of asked shapes)",
                             mode="lines+markers", line=dict(color=PALETTE[2], dash="dash")), secondary_y=False)
    fig.add_trace(go.Scatter(x=s, y=[100 * r["exact"] for r in rows], name="all attributes right (% of images)",
                             mode="lines+markers", line=dict(color=PALETTE[4], dash="dot")), secondary_y=False)
    fig.add_trace(go.Scatter(x=s, y=[r["variety"] for r in rows], name="variety (pixels)",
                             mode="lines+markers", line=dict(color=PALETTE[1], width=3)), secondary_y=True)
    if current is not None:
        fig.add_vline(x=current, line=dict(color="#888", dash="dash"), annotation_text="your scale",
                      annotation_position="bottom right")
    base_layout(fig, None, height=height)
    fig.update_xaxes(title="guidance scale s")
    fig.update_yaxes(title="%", range=[0, 105], secondary_y=False)
    fig.update_yaxes(title="variety (pixels)", rangemode="tozero", secondary_y=True, showgrid=False)
    return fig


def parts_fig(parts: list[dict], height: int = 260) -> go.Figure:
    """Parameters per pipeline part (log scale), coloured by trained here / frozen / pretrained."""
    parts = [p for p in parts if p["parameters"] > 0]
    color = [PALETTE[2] if p["trained here"] else PALETTE[5] if p["frozen"] else PALETTE[0] for p in parts]
    fig = go.Figure(go.Bar(x=[p["parameters"] for p in parts], y=[f"{p['part']} ({p['class']})" for p in parts],
                           orientation="h", marker_color=color, text=[f"{p['parameters'] / 1e6:.2f} M" for p in parts],
                           textposition="outside", hovertemplate="%{y}: %{x:,} parameters<extra></extra>"))
    base_layout(fig, None, height=height)
    # room on the right for the label outside the longest bar ("22.71 M" was cut to "22.")
    lo, hi = np.log10(min(p["parameters"] for p in parts)), np.log10(max(p["parameters"] for p in parts))
    fig.update_xaxes(type="log", title="parameters (log scale)", range=[lo - 0.3, hi + 0.25 + 0.12 * (hi - lo + 1)])
    fig.update_traces(cliponaxis=False)
    return fig


def token_states_fig(tokens: list[str], states: np.ndarray, height: int = 360) -> go.Figure:
    """The token states c (L x d) as a heatmap, one row per token (labelled), features along x."""
    L = len(tokens)
    labels = [f"{i}: {tok}" for i, tok in enumerate(tokens)]
    z = np.asarray(states, np.float32)
    lim = float(np.percentile(np.abs(z), 99)) or 1.0
    fig = go.Figure(go.Heatmap(z=z, y=labels, colorscale="RdBu", zmid=0, zmin=-lim, zmax=lim,
                               colorbar=dict(title="value", thickness=10),
                               hovertemplate="%{y}, feature %{x}: %{z:.2f}<extra></extra>"))
    base_layout(fig, None, height=height)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=9), nticks=L)
    fig.update_xaxes(title=f"feature (of {z.shape[1]})")
    return fig
