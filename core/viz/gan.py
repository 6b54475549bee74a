"""Figures of the GAN page: the model overview graph, the plane (samples, D(x), manifold, gradient arrows),
training curves, mode coverage, conditional samples and digit grids.

Data in, plotly figure out; no Streamlit, no training. Colours follow GAN Lab's convention: green is
"real" (data, D(x) -> 1), the GAN colour (vermilion) is "fake" (samples of G, D(x) -> 0).
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.metrics import MIN_SHARE, mosaic
from core.viz.common import MODEL_COLORS, PALETTE, base_layout

REAL = "#009E73"
FAKE = MODEL_COLORS["GAN"]
D_COLOR = "#0072B2"
G_COLOR = FAKE
#: D(x) from 0 (fake side, light vermilion) through 0.5 (white) to 1 (real side, light green)
D_SCALE = [[0.0, "#f2b48f"], [0.5, "#ffffff"], [1.0, "#8fd3bd"]]
LN2 = math.log(2)


def _square(fig: go.Figure, box: float, axis: str = "") -> go.Figure:
    fig.update_xaxes(range=[-box, box], constrain="domain", zeroline=False, showgrid=False, title=None)
    fig.update_yaxes(range=[-box, box], scaleanchor="x", scaleratio=1, constrain="domain", zeroline=False,
                     showgrid=False, title=None)
    return fig


def _clip(X, box: float) -> np.ndarray:
    """Points as float arrays, non-finite ones dropped, far ones pinned to the frame's edge (diverged runs)."""
    X = np.asarray(X, float).reshape(-1, 2)
    X = X[np.isfinite(X).all(1)]
    return np.clip(X, -1.5 * box, 1.5 * box)


def _points(X, name, color, size=4, opacity=0.6, symbol="circle", **kw):
    X = np.asarray(X, float).reshape(-1, 2)
    return go.Scatter(x=X[:, 0], y=X[:, 1], mode="markers", name=name,
                        marker=dict(size=size, color=color, opacity=opacity, symbol=symbol), **kw)


def heat_trace(xs, ys, Z, d_kind: str = "prob", opacity: float = 0.9, showscale: bool = True,
               colorbar_x: float | None = None) -> go.Heatmap:
    """D(x) as a heatmap: probabilities on [0, 1] (0.5 white), or critic scores centred on their median."""
    Z = np.asarray(Z, float)
    Z = np.where(np.isfinite(Z), Z, np.nan)
    if d_kind == "prob":
        zmin, zmax, title = 0.0, 1.0, "D(x)"
    else:
        mid = float(np.nanmedian(Z)) if np.isfinite(Z).any() else 0.0
        half = float(np.nanmax(np.abs(Z - mid))) if np.isfinite(Z).any() else 1.0
        zmin, zmax, title = mid - (half or 1.0), mid + (half or 1.0), "critic f(x)"
    cb = dict(title=title, thickness=10, len=0.8)
    if colorbar_x is not None:
        cb["x"] = colorbar_x
    return go.Heatmap(x=xs, y=ys, z=Z, colorscale=D_SCALE, zmin=zmin, zmax=zmax, opacity=opacity,
                      showscale=showscale, colorbar=cb, name="D(x)",
                      hovertemplate="x=(%{x:.2f}, %{y:.2f})<br>" + title + "=%{z:.3f}<extra></extra>")


def arrow_segments(points, vectors, box: float, scale: float = 0.5, max_len: float | None = None):
    """Line segments (with a two-stroke head) from each point along its vector, for a quiver plot.

    The length is ``scale * |v|`` capped at ``max_len`` (default box / 6): arrows keep their true relative
    size, so a vanishing (saturated) gradient draws vanishing arrows. Returns (xs, ys) with None breaks.
    """
    P = np.asarray(points, float).reshape(-1, 2)
    V = np.asarray(vectors, float).reshape(-1, 2)
    ok = np.isfinite(P).all(1) & np.isfinite(V).all(1)
    P, V = P[ok], V[ok]
    max_len = box / 6 if max_len is None else max_len
    n = np.linalg.norm(V, axis=1, keepdims=True)
    L = np.minimum(scale * n, max_len)
    U = np.divide(V, n, out=np.zeros_like(V), where=n > 0)
    E = P + U * L
    head = 0.3 * L
    c, s = math.cos(math.radians(25)), math.sin(math.radians(25))
    h1 = E - head * np.stack([U[:, 0] * c - U[:, 1] * s, U[:, 0] * s + U[:, 1] * c], 1)
    h2 = E - head * np.stack([U[:, 0] * c + U[:, 1] * s, -U[:, 0] * s + U[:, 1] * c], 1)
    xs, ys = [], []
    for p, e, a, b in zip(P, E, h1, h2):
        xs += [p[0], e[0], None, a[0], e[0], b[0], None]
        ys += [p[1], e[1], None, a[1], e[1], b[1], None]
    return xs, ys


def plane(box: float, real=None, fake=None, heat=None, manifold=None, arrows=None, d_kind: str = "prob",
          title: str | None = None, height: int = 470, boundary: bool = True, arrow_scale: float = 0.5) -> go.Figure:
    """The GAN on the plane: D(x) heatmap (with its D = 0.5 contour), real points, generated points, the
    generator's manifold (G applied to a grid in z-space) and arrows -dL_G/dx on generated points.

    ``heat``: (xs, ys, Z); ``manifold``: (rows, cols, 2); ``arrows``: (points, vectors).
    """
    fig = go.Figure()
    if heat is not None:
        xs, ys, Z = heat
        fig.add_trace(heat_trace(xs, ys, Z, d_kind))
        if boundary and d_kind == "prob" and np.isfinite(Z).all() and Z.min() < 0.5 < Z.max():
            fig.add_trace(go.Contour(x=xs, y=ys, z=Z, showscale=False, hoverinfo="skip", name="D(x) = 0.5",
                                     contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                     line=dict(color="#777", width=1, dash="dot"), showlegend=True))
    if real is not None:
        fig.add_trace(_points(_clip(real, box), "real data x ~ p_r", REAL, size=4, opacity=0.45))
    if manifold is not None:
        M = np.asarray(manifold, float)
        if np.isfinite(M).all():
            M = np.clip(M, -1.5 * box, 1.5 * box)
            xs_, ys_ = [], []
            lines = [M[i] for i in range(M.shape[0])] + ([M[:, j] for j in range(M.shape[1])] if M.shape[0] > 1 else [])
            for L in lines:
                xs_ += list(L[:, 0]) + [None]
                ys_ += list(L[:, 1]) + [None]
            fig.add_trace(go.Scatter(x=xs_, y=ys_, mode="lines", name="G's manifold (z-grid through G)",
                                       line=dict(color="rgba(120,60,20,0.45)", width=1), hoverinfo="skip"))
    if fake is not None:
        fig.add_trace(_points(_clip(fake, box), "generated G(z) ~ p_g", FAKE, size=4, opacity=0.7))
    if arrows is not None:
        P, V = arrows
        ax, ay = arrow_segments(P, V, box, arrow_scale)
        fig.add_trace(go.Scatter(x=ax, y=ay, mode="lines", name="-dL_G/dx: where G's gradient pushes fakes",
                                   line=dict(color="#333", width=1), hoverinfo="skip"))
    base_layout(fig, title, height=height)
    return _square(fig, box)


def plane_at(box: float, real, shows, d_kind: str = "prob", view: dict | None = None, snapshot=None, xs=None,
             step: int = 0) -> tuple[go.Figure, str]:
    """The page's plane and a note on G's gradient: at a timeline ``snapshot`` (a core.gan.Snapshot, its heatmap
    over ``xs``; no arrows) or now, from ``view`` (core.gan_session.current_view) at iteration ``step``. ``shows``: the
    layers switched on, of "heat", "real", "fake", "man" and "arr"."""
    on = lambda layer, value: value if layer in shows else None
    if snapshot is not None:
        s = snapshot
        return (plane(box, on("real", real), on("fake", s.samples), on("heat", (xs, xs, s.heat)),
                      on("man", s.manifold), None, d_kind, title=f"Iteration {s.step:,} (snapshot)"),
                "Arrows are drawn for the current model only.")
    xs = view["xs"]
    P, V = view["arrows"]
    fig = plane(box, on("real", real), on("fake", view["fake"]), on("heat", (xs, xs, view["Z"])),
                on("man", view["manifold"]), on("arr", (P, V)), d_kind, title=f"Iteration {step:,} (now)")
    norms = np.linalg.norm(V, axis=1)
    return fig, (f"Mean gradient length |dL_G/dx| = **{np.nanmean(norms):.3g}** "
                 f"(largest {np.nanmax(norms) if np.isfinite(norms).any() else float('nan'):.3g}).")


# ----------------------------------------------------------------------------- the overview graph

def overview(z, fake, real, d_real, d_fake, heat, box: float, d_loss, g_loss, d_kind: str = "prob",
             height: int = 250, title: str | None = None, colors=None) -> go.Figure:
    """GAN Lab's model overview as one figure: noise z -> [G] -> samples -> [D] -> predictions -> losses,
    with live thumbnails of each stage and the gradient paths back to D and to G.

    ``z`` (n, >=1) noise, ``fake`` = G(z), ``real`` data points, ``d_real`` / ``d_fake`` D's outputs on them,
    ``heat`` (xs, ys, Z) D over the plane, ``d_loss`` / ``g_loss`` the latest losses (None if unknown).
    ``colors``: one number per noise point (default: its angle), shared by z and G(z) so the mapping shows.
    """
    z = np.asarray(z, float)
    z2 = z[:, :2] if z.shape[1] >= 2 else np.c_[z[:, 0], np.zeros(len(z))]
    if colors is None:
        colors = np.arctan2(z2[:, 1], z2[:, 0])
    dom = {"z": (0.0, 0.13), "x": (0.25, 0.43), "p": (0.55, 0.73), "l": (0.85, 1.0)}
    fig = go.Figure()
    # 1. noise thumbnail (axes x1/y1)
    fig.add_trace(go.Scatter(x=z2[:, 0], y=z2[:, 1], mode="markers", xaxis="x", yaxis="y",
                               marker=dict(size=3, color=colors, colorscale="HSV", opacity=0.8),
                               hoverinfo="skip", showlegend=False, name="z"))
    # 2. samples thumbnail: D heatmap, real and fake (x2/y2)
    xs, ys, Z = heat
    fig.add_trace(heat_trace(xs, ys, Z, d_kind, opacity=0.8, showscale=False).update(xaxis="x2", yaxis="y2"))
    R, F = _clip(real, box), _clip(fake, box)
    fig.add_trace(go.Scatter(x=R[:, 0], y=R[:, 1], mode="markers", xaxis="x2", yaxis="y2", showlegend=False,
                               marker=dict(size=2, color=REAL, opacity=0.5), hoverinfo="skip", name="real"))
    fcol = colors[np.isfinite(np.asarray(fake, float)).all(1)] if len(colors) == len(fake) else FAKE
    fig.add_trace(go.Scatter(x=F[:, 0], y=F[:, 1], mode="markers", xaxis="x2", yaxis="y2", showlegend=False,
                               marker=dict(size=3, color=fcol, colorscale="HSV", opacity=0.85,
                                           line=dict(width=0.3, color=FAKE)),
                               hoverinfo="skip", name="fake"))
    # 3. predictions: D(x) for real and fake samples (x3/y3)
    dr, df = np.asarray(d_real, float), np.asarray(d_fake, float)
    dr, df = dr[np.isfinite(dr)], df[np.isfinite(df)]
    if d_kind == "prob":
        bins = dict(start=0, end=1.0001, size=0.05)
    else:
        lo = float(min(dr.min(initial=0), df.min(initial=0)))
        hi = float(max(dr.max(initial=1), df.max(initial=1)))
        bins = dict(start=lo, end=hi + 1e-6, size=max((hi - lo) / 20, 1e-6))
    for vals, name, c in ((dr, "D(real)", REAL), (df, "D(fake)", FAKE)):
        fig.add_trace(go.Histogram(x=vals, xbins=bins, xaxis="x3", yaxis="y3", name=name, marker_color=c,
                                   opacity=0.7, showlegend=False, hovertemplate=name + " %{x}: %{y}<extra></extra>"))
    # 4. the two losses (x4/y4)
    lv = [v if v is not None and np.isfinite(v) else 0.0 for v in (d_loss, g_loss)]
    fig.add_trace(go.Bar(x=["D loss", "G loss"], y=lv, xaxis="x4", yaxis="y4", marker_color=[D_COLOR, G_COLOR],
                         text=[f"{v:.3f}" if v is not None else "-" for v in (d_loss, g_loss)], textposition="auto",
                         showlegend=False, hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    # layout: four small axes in a row
    ax = dict(showgrid=False, zeroline=False, showticklabels=False)
    zr = 3.2 if z.shape[1] and np.abs(z2).max() > 1.5 else 1.1
    fig.update_layout(
        xaxis=dict(domain=dom["z"], range=[-zr, zr], anchor="y", **ax),
        yaxis=dict(domain=[0.2, 0.82], range=[-zr, zr], anchor="x", scaleanchor="x", **ax),
        xaxis2=dict(domain=dom["x"], range=[-box, box], anchor="y2", **ax),
        yaxis2=dict(domain=[0.2, 0.82], range=[-box, box], anchor="x2", scaleanchor="x2", **ax),
        xaxis3=dict(domain=dom["p"], range=[0, 1] if d_kind == "prob" else None, showgrid=False, zeroline=False,
                    tickvals=[0, 0.5, 1] if d_kind == "prob" else None, tickfont=dict(size=9), anchor="y3"),
        yaxis3=dict(domain=[0.2, 0.82], anchor="x3", **ax),
        xaxis4=dict(domain=dom["l"], showgrid=False, tickfont=dict(size=10), anchor="y4"),
        yaxis4=dict(domain=[0.2, 0.82], showgrid=True, zeroline=True, tickfont=dict(size=9), anchor="x4",
                    range=[min(0.0, *lv) * 1.15, max(1.0, *lv) * 1.15]),
        barmode="overlay", height=height, margin=dict(l=10, r=10, t=30 if title else 8, b=18),
        template="plotly_white", title=title)
    # boxes for the two networks and the arrows of the forward pass
    def box_shape(x0, x1, color, text):
        fig.add_shape(type="rect", xref="paper", yref="paper", x0=x0, x1=x1, y0=0.34, y1=0.68,
                      line=dict(color=color, width=2), fillcolor=color, opacity=0.15)
        fig.add_annotation(x=(x0 + x1) / 2, y=0.51, xref="paper", yref="paper", text=f"<b>{text}</b>",
                           showarrow=False, font=dict(size=16, color=color))

    box_shape(0.16, 0.22, G_COLOR, "G")
    box_shape(0.46, 0.52, D_COLOR, "D")

    def arrow(x0, x1, y, color="#444", dash=False, text=None, above=True):
        # the shaft is a line in paper coordinates, the head an annotation arrow a few pixels long (arrow tails
        # cannot be given in paper coordinates, and an extra full-size axis would paint over the panels)
        width = 1.6 if not dash else 1.2
        fig.add_shape(type="line", xref="paper", yref="paper", x0=x0, x1=x1, y0=y, y1=y,
                      line=dict(color=color, width=width, dash="dash" if dash else None))
        fig.add_annotation(x=x1, y=y, xref="paper", yref="paper", ax=-10 if x1 > x0 else 10, ay=0, axref="pixel",
                           ayref="pixel", showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=width,
                           arrowcolor=color, text="")
        if text:  # just above (or below) its shaft, on a white ground: never struck through by the dashes
            fig.add_annotation(x=(x0 + x1) / 2, y=y, xref="paper", yref="paper", text=text, showarrow=False,
                               yanchor="bottom" if above else "top", yshift=3 if above else -3,
                               bgcolor="rgba(255,255,255,0.9)", font=dict(size=10, color=color))

    arrow(0.135, 0.16, 0.51)
    arrow(0.22, 0.245, 0.51)
    arrow(0.435, 0.46, 0.51)
    arrow(0.52, 0.545, 0.51)
    arrow(0.735, 0.845, 0.51)
    # gradient paths: dashed coloured arrows back along the top (to D) and the bottom (to G)
    arrow(0.88, 0.49, 0.93, D_COLOR, True, "gradient of D's loss -> D's weights (D maximizes L)")
    arrow(0.97, 0.19, 0.05, G_COLOR, True, "gradient of G's loss, back through D -> G's weights (G minimizes L)",
          above=False)
    # short panel titles: on a phone the four panels are about 80 px apart
    for x, text in ((0.065, "noise z"), (0.34, "real and G(z)"), (0.64, "D(x)"), (0.925, "losses")):
        fig.add_annotation(x=x, y=0.86, xref="paper", yref="paper", text=text, showarrow=False,
                           font=dict(size=11, color="#333"))
    return fig


# ----------------------------------------------------------------------------- curves

def curves(history: list[dict], marker_step: int | None = None, d_kind: str = "prob", height: int = 560) -> go.Figure:
    """Training curves of a GAN's history (``train/...`` and ``test/...`` keys, see core.gan.fit) in four panels: the losses; mean D(real) and D(fake) (-> 0.5); the JS estimates
    (value function and grid histogram, with ln 2); and mode coverage / high-quality share where known."""
    H = [h for h in history if h]
    steps = [h["step"] for h in H]
    titles = ("losses", "mean D(real) and D(fake)" if d_kind == "prob" else "mean critic score on real and fake",
              "Jensen-Shannon divergence estimates (nats)", "modes captured and high-quality share")
    fig = make_subplots(2, 2, subplot_titles=titles, horizontal_spacing=0.09, vertical_spacing=0.16,
                        specs=[[{}, {}], [{}, {"secondary_y": True}]])

    def line(key, name, color, row, col, dash=None, secondary=False, scale=1.0):
        ys = [h[key] * scale if isinstance(h.get(key), (int, float)) else None for h in H]
        if all(v is None for v in ys):
            return
        fig.add_trace(go.Scatter(x=steps, y=ys, mode="lines" if len(steps) > 2 else "lines+markers", name=name,
                                 line=dict(color=color, width=2, dash=dash),
                                 hovertemplate=name + " at step %{x}: %{y:.3f}<extra></extra>", connectgaps=False),
                      row=row, col=col, secondary_y=secondary if (row, col) == (2, 2) else None)

    line("train/d_loss", "D loss", D_COLOR, 1, 1)
    line("train/g_loss", "G loss", G_COLOR, 1, 1)
    line("test/d_real", "D(real)", REAL, 1, 2)
    line("test/d_fake", "D(fake)", FAKE, 1, 2)
    if d_kind == "prob":
        fig.add_hline(y=0.5, line=dict(color="#999", dash="dot"), row=1, col=2,
                      annotation_text="0.5: D cannot tell", annotation_position="bottom right")
    line("test/js_value", "JS from the value: (L + ln 4) / 2", "#CC79A7", 2, 1)
    line("test/js_hist", "JS of grid histograms", "#56B4E9", 2, 1, dash="dash")
    fig.add_hline(y=LN2, line=dict(color="#999", dash="dot"), row=2, col=1, annotation_text="ln 2 (no overlap)",
                  annotation_position="bottom right")
    if any("test/modes" in h for h in H):
        line("test/modes", "modes captured", "#000000", 2, 2)
        line("test/hq", "high-quality share (%)", "#E69F00", 2, 2, dash="dash", secondary=True, scale=100)
        n = next(h["test/n_modes"] for h in H if "test/n_modes" in h)
        fig.update_yaxes(range=[0, n + 0.5], row=2, col=2, secondary_y=False, title_text="modes")
        fig.update_yaxes(range=[0, 101], row=2, col=2, secondary_y=True, title_text="% HQ", showgrid=False,
                         tickvals=[0, 25, 50, 75, 90, 100])
    else:
        fig.add_annotation(text="no known modes for this data", xref="x4 domain", yref="y4 domain", x=0.5, y=0.5,
                           showarrow=False, font=dict(color="#777"))
    if marker_step is not None:
        for r in (1, 2):
            for c in (1, 2):
                fig.add_vline(x=marker_step, line=dict(color="#555", width=1, dash="dash"), row=r, col=c)
    for r in (1, 2):
        for c in (1, 2):
            fig.update_xaxes(title_text="iteration" if r == 2 else None, row=r, col=c)
    fig = base_layout(fig, None, height=height)
    fig.update_layout(margin=dict(t=35), legend=dict(orientation="h", y=-0.12))
    return fig


def mode_bars(counts, n_samples: int, min_share: float = MIN_SHARE, title: str | None = None,
              height: int = 260) -> go.Figure:
    """High-quality samples per mode, with the line a mode must reach to count as captured (the need of
    core.metrics.mode_coverage: a fifth of the even share n / K)."""
    counts = np.asarray(counts, int)
    K = len(counts)
    need = max(1, math.ceil(min_share * n_samples / K - 1e-9))
    colors = [REAL if c >= need else "#bbbbbb" for c in counts]
    fig = go.Figure(go.Bar(x=[str(i) for i in range(K)], y=counts, marker_color=colors,
                           hovertemplate="mode %{x}: %{y} high-quality samples<extra></extra>", name="samples"))
    fig.add_hline(y=need, line=dict(color="#555", dash="dot"), annotation_text=f"captured from {need}",
                  annotation_position="top left")
    fig.add_hline(y=n_samples / K, line=dict(color=REAL, dash="dash", width=1), annotation_text="fair share",
                  annotation_position="top right")
    fig.update_xaxes(title="mode", type="category")
    fig.update_yaxes(title="samples within 3 std")
    return base_layout(fig, title, height=height)


# ----------------------------------------------------------------------------- conditional GAN

def conditional_plane(box: float, real, real_labels, fake, label: int, heat=None, centers=None,
                      title: str | None = None, height: int = 440) -> go.Figure:
    """cGAN on a mixture: the real data coloured by mode label (faded), D(x | y) for the chosen label y, and
    G(z | y) samples for that label; the chosen mode's centre is circled."""
    fig = go.Figure()
    if heat is not None:
        xs, ys, Z = heat
        fig.add_trace(heat_trace(xs, ys, Z, "prob", opacity=0.8))
    R = np.asarray(real, float)
    lab = np.asarray(real_labels)
    for k in np.unique(lab):
        m = lab == k
        fig.add_trace(go.Scatter(x=R[m, 0], y=R[m, 1], mode="markers", name=f"real, y={k}", showlegend=False,
                                   marker=dict(size=3, color=PALETTE[int(k) % len(PALETTE)],
                                               opacity=0.5 if k == label else 0.12),
                                   hovertemplate=f"real, label {k}<extra></extra>"))
    fig.add_trace(_points(_clip(fake, box), f"G(z | y={label})", FAKE, size=5, opacity=0.85,
                          symbol="diamond"))
    if centers is not None:
        c = np.asarray(centers)[label]
        fig.add_trace(go.Scatter(x=[c[0]], y=[c[1]], mode="markers", name=f"mode {label}",
                                 marker=dict(size=26, color="rgba(0,0,0,0)", line=dict(color="black", width=2))))
    base_layout(fig, title, height=height)
    return _square(fig, box)


def digit_grid(images: np.ndarray, ncols: int = 8, title: str | None = None, height: int = 420) -> go.Figure:
    """A mosaic of grayscale images in [0, 1] (white digits on black, like MNIST)."""
    mos = mosaic(images, ncols=ncols, pad=2)
    fig = go.Figure(go.Heatmap(z=mos[::-1], colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, scaleanchor="x", constrain="domain")
    return base_layout(fig, title, height=height)


# ----------------------------------------------------------------------------- user points
