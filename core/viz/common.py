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


#: The narrowest a figure is drawn: the page's layout rules (core/ui.py) wrap a column holding a figure onto a row
#: of its own before it gets narrower than this; titles are wrapped to fit it.
MIN_WIDTH_PX = 248
#: A figure of several panels is drawn at least a phone's width (it is never put in a narrow column): their titles
#: are wrapped to fit their panel at this width.
PANELS_WIDTH_PX = 360
TITLE_SIZE, SUBTITLE_SIZE = 15, 13  # px; about 0.5 em a character on average
_LINE = 1.35  # line height, in font sizes
_LEGEND_GAP_PX = 62  # from the plot's bottom edge to a legend under it: tick labels and an axis title


def wrap_title(text: str | None, width_px: float, size: int) -> tuple[str | None, int]:
    """``text`` broken into lines (``<br>``) that fit ``width_px`` at font size ``size``; (text, number of lines).
    Plotly never wraps a title: one longer than its figure was cut ("Data (4,000 trainir")."""
    import textwrap

    if not text:
        return text, 0
    per_line = max(12, int(width_px / (0.52 * size)))
    lines = [line for part in str(text).split("<br>") for line in (textwrap.wrap(part, per_line) or [""])]
    return "<br>".join(lines), len(lines)


def _subplot_titles(fig: go.Figure, plot_px: float) -> int:
    """Wrap the subplot titles that ``make_subplots`` made to the width of their panel in the narrowest figure
    (:data:`PANELS_WIDTH_PX`); the most lines a title of the top row needs (the room made above the plot). A title
    of a lower row has only the gap between the rows (``plot_px``: the plot area's height), below the tick labels
    of the panel above: it gets the lines that fit there, and a smaller font when it needs more."""
    import math
    import textwrap

    xdomains = [tuple(fig.layout[k].domain) for k in fig.layout.to_plotly_json() if k.startswith("xaxis")
                and fig.layout[k].domain]
    ybottoms = [fig.layout[k].domain[0] for k in fig.layout.to_plotly_json() if k.startswith("yaxis")
                and fig.layout[k].domain]
    most = 0
    for ann in fig.layout.annotations or ():
        if not (ann.xref == "paper" and ann.yref == "paper" and ann.yanchor == "bottom" and ann.showarrow is False):
            continue
        frac = next((d1 - d0 for d0, d1 in xdomains if d0 - 1e-6 <= (ann.x or 0) <= d1 + 1e-6), 1.0)
        width = frac * (PANELS_WIDTH_PX - 20)
        text, lines = wrap_title(ann.text, width, SUBTITLE_SIZE)
        size = SUBTITLE_SIZE
        above = [b for b in ybottoms if b > (ann.y or 0) + 1e-6]
        if above:  # a lower row
            room = (min(above) - ann.y) * plot_px * 0.75 - 24  # a legend below may take a quarter of the height
            fit = max(1, int(room // (_LINE * SUBTITLE_SIZE)))
            if lines > fit:
                size = SUBTITLE_SIZE - 2
                plain = str(ann.text).replace("<br>", " ")
                text = "<br>".join(textwrap.wrap(plain, max(int(width / (0.52 * size)), math.ceil(len(plain) / fit))))
        else:
            most = max(most, lines)
        ann.text = text
        ann.font.size = size
    return most


def base_layout(fig: go.Figure, title: str | None = None, height: int = 380, square: bool = False) -> go.Figure:
    """GenLab's figure layout, for any width from a phone's to a wide screen: the title and the subplot titles are
    wrapped to fit the narrowest figure (:data:`MIN_WIDTH_PX`), with room made above the plot for their lines (the
    figure grows by as much, so the plot keeps its size), and the legend is a horizontal row under the plot (on a
    narrow figure a legend at the side took half its width). Call it after ``make_subplots``; a figure that sets
    ``margin.t`` afterwards loses that room."""
    compact(fig)
    text, lines = wrap_title(title, MIN_WIDTH_PX - 20, TITLE_SIZE)
    sub = _subplot_titles(fig, height - (round(lines * _LINE * TITLE_SIZE) + 16 if lines else 10) - 10)
    block = round(lines * _LINE * TITLE_SIZE)  # the title's lines, in px
    top = (block + 16 if lines else 10) + round(sub * _LINE * SUBTITLE_SIZE) + (6 if sub else 0)
    extra = max(0, lines - 1) * round(_LINE * TITLE_SIZE) + max(0, sub - 1) * round(_LINE * SUBTITLE_SIZE)
    total = height + extra
    # placed by its middle, in px from the top: plotly anchors a title of several lines by "top" or "bottom" a line
    # off (its first line was cut at the top, or its last ran into the plot)
    fig.update_layout(title=dict(text=text, font=dict(size=TITLE_SIZE), x=0, xanchor="left", xref="paper",
                                 yref="container", yanchor="middle", y=1 - (8 + block / 2) / total) if text else None,
                      height=total, margin=dict(l=10, r=10, t=top, b=10),
                      # under the plot, clear of the x axis's tick labels and title (about 60 px, whatever the plot's
                      # height: at a fixed share of it, the legend ran into the axis title of a short plot); plotly
                      # makes room for it below (margin.autoexpand)
                      legend=dict(orientation="h", yanchor="top", y=-_LEGEND_GAP_PX / max(120, total - top - 10),
                                  xanchor="left", x=0))
    for name in fig.layout.to_plotly_json():  # a second y axis: its own round ticks, not the first axis's
        if name.startswith("yaxis") and fig.layout[name].overlaying:  # gridlines carried over (0.08599, 0.185...)
            fig.layout[name].update(tickmode="auto", nticks=6, tickformat="~g")
    if square:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


#: Words of the metric keys that training code logs ("test/swd", "train_nll", "d_loss"), as a student reads them.
_METRIC_WORDS = {"train": "train", "test": "held-out", "swd": "sliced Wasserstein", "nll": "NLL", "elbo": "ELBO",
                 "kl": "KL", "recon": "reconstruction", "loss": "loss", "d": "D", "g": "G", "mmd2": "MMD²"}
_METRIC_NAMES = {"d_real": "mean D(real)", "d_fake": "mean D(fake)",
                 "test/d_real": "mean D(real)", "test/d_fake": "mean D(fake)"}


def metric_label(key: str) -> str:
    """A logged metric's key as a legend shows it: ``test/swd`` -> "held-out sliced Wasserstein", ``train/loss`` ->
    "train loss", ``train_nll`` -> "train NLL". The one rule for such names in every chart's legend."""
    if key in _METRIC_NAMES:
        return _METRIC_NAMES[key]
    import re

    return " ".join(_METRIC_WORDS.get(w, w) for w in re.split(r"[/_]", str(key)) if w)


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
