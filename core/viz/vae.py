"""Figures of the VAE page: latent maps, decoded manifolds, ELBO curves, posteriors, the reparameterization.

Data in, figure out (plotly or altair); no Streamlit, no training.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.common import base_layout, ellipse_xy

#: One colour per digit 0..9, colour-blind safe, ten distinct hues: Paul Tol's "muted" scheme, its pale grey
#: darkened to show on white. Digits that the latent maps put side by side (3/5/8, 4/7/9, 1/7) get far-apart
#: hues; Tableau 10's teal and grey (3 and 9) and pink and brown (7 and 8) were hard to tell apart.
DIGIT_COLORS = ["#332288", "#88CCEE", "#CC6677", "#117733", "#999933",
                "#DDCC77", "#44AA99", "#882255", "#AA4499", "#666666"]


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling so small digits stay crisp when the browser shows them larger."""
    factor = max(1, int(factor))
    return np.kron(np.asarray(img, np.float32), np.ones((factor, factor), np.float32))


def image_strip(images: np.ndarray, ncols: int | None = None, scale: int = 3, pad: int = 2) -> np.ndarray:
    """(n, H, W) images in [0, 1] -> one upscaled mosaic in [0, 1] for ``st.image``."""
    from core.metrics import mosaic

    return np.clip(upscale(mosaic(images, ncols or len(images), pad=pad), scale), 0, 1)


def png_data_uri(img: np.ndarray, scale: int = 2) -> str:
    """A small grayscale image in [0, 1] as a ``data:image/png;base64`` URI (for Vega tooltips)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(upscale(img, scale), 0, 1) * 255).astype(np.uint8)).save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# ------------------------------------------------------------------------------------------ latent maps

def latent_map(mu, labels, images_uri=None, picked=None, title=None, dims=(0, 1), height=430,
               select_name="pick", domain=None):
    """Altair scatter of encoded means coloured by digit; hover shows the image, a click selects the point.

    ``picked`` = (index, mean (2,), sigma (2,) or None) draws the posterior's 1- and 2-sigma ellipses
    (the diagonal Gaussian q_phi(z|x)) around that mean. The click selection is named ``select_name`` and
    carries the field ``idx``.
    """
    import altair as alt
    import pandas as pd

    mu = np.asarray(mu)
    zx, zy = f"z{dims[0] + 1}", f"z{dims[1] + 1}"
    df = pd.DataFrame({"idx": np.arange(len(mu)), zx: mu[:, 0], zy: mu[:, 1], "digit": np.asarray(labels).astype(str)})
    tooltip = ["digit", "idx", alt.Tooltip(zx, format=".2f"), alt.Tooltip(zy, format=".2f")]
    if images_uri is not None:
        df["image"] = list(images_uri)
        tooltip = ["image"] + tooltip
    if domain is None:
        lo, hi = np.percentile(mu, 0.5, 0), np.percentile(mu, 99.5, 0)
        pad = 0.08 * (hi - lo) + 1e-3
        domain = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    sel = alt.selection_point(name=select_name, fields=["idx"], on="click", clear=False, empty=False)
    x = alt.X(f"{zx}:Q", scale=alt.Scale(domain=list(domain[0]), clamp=False), title=f"z{dims[0] + 1} (posterior mean)")
    y = alt.Y(f"{zy}:Q", scale=alt.Scale(domain=list(domain[1]), clamp=False), title=f"z{dims[1] + 1} (posterior mean)")
    color = alt.Color("digit:N", scale=alt.Scale(domain=[str(i) for i in range(10)], range=DIGIT_COLORS),
                      legend=alt.Legend(title="digit", orient="right"))
    points = (alt.Chart(df).mark_circle(size=28, opacity=0.75, clip=True).encode(x=x, y=y, color=color, tooltip=tooltip)
              .add_params(sel))
    layers = [points]
    if picked is not None:
        i, m, s = picked
        rows = [{"zx": m[0], "zy": m[1], "what": "mean", "order": 0, "k": "mean"}]
        if s is not None:
            for k in (1, 2):
                ex, ey = ellipse_xy(np.asarray(m, float), np.asarray(s, float) ** 2, k, 80)
                rows += [{"zx": a, "zy": b, "what": f"{k} sigma", "order": j, "k": f"{k}"} for j, (a, b) in enumerate(zip(ex, ey))]
        edf = pd.DataFrame(rows)
        ell = edf[edf.what != "mean"]
        if len(ell):
            layers.append(alt.Chart(ell).mark_line(color="black", strokeWidth=2, clip=True).encode(
                x=alt.X("zx:Q"), y=alt.Y("zy:Q"), order="order:Q", detail="k:N",
                strokeDash=alt.StrokeDash("what:N", legend=alt.Legend(title=f"q(z|x) of #{i}"),
                                          scale=alt.Scale(domain=["1 sigma", "2 sigma"], range=[[1, 0], [5, 3]]))))
        layers.append(alt.Chart(edf[edf.what == "mean"]).mark_point(shape="cross", size=220, color="black",
                                                                    strokeWidth=3, filled=True).encode(x="zx:Q", y="zy:Q"))
    return alt.layer(*layers).properties(height=height, width="container", title=title or "")


def tooltip_images(x: np.ndarray, shape: tuple) -> list[str]:
    """Every image of ``x`` ((n, D) in [0, 1]) as a PNG data URI for the latent map's tooltips (small digits
    upscaled more)."""
    scale = 2 if shape[0] >= 16 else 4
    return [png_data_uri(v.reshape(shape), scale) for v in x]


def picked_latent_map(mu_all, sigma_all, labels, images_uri, idx: int, dims=(0, 1), zoom: bool = False):
    """The latent map of every encoded mean ``mu_all`` (n, L) on the latent ``dims``, with test image ``idx``
    picked (its posterior's ellipses from ``sigma_all``, None for an autoencoder). ``zoom`` frames the picked
    point: 8 sigma (at least 0.3) to each side, as the posteriors are often narrower than 0.1."""
    mu2 = np.asarray(mu_all)[:, list(dims)]
    s2 = None if sigma_all is None else np.asarray(sigma_all)[idx, list(dims)]
    domain = None
    if zoom:
        half = np.full(2, 0.3) if s2 is None else np.maximum(8 * s2, 0.3)
        domain = tuple((float(mu2[idx, j] - half[j]), float(mu2[idx, j] + half[j])) for j in range(2))
    return latent_map(mu2, labels, images_uri, picked=(idx, mu2[idx], s2), dims=dims, domain=domain,
                      title=f"{len(labels):,} test digits: posterior means (hover: the digit; click: pick it)")


def ae_vae_maps(ae_mu, vae_mu, labels):
    """The plain autoencoder's codes beside the VAE's posterior means (with the prior's circles)."""
    return latent_panels([
        {"mu": ae_mu, "labels": labels, "title": "Plain autoencoder: codes z = f(x)"},
        {"mu": vae_mu, "labels": labels, "title": "VAE (beta = 1): posterior means, prior circles",
         "prior": True, "domain": ((-4, 4), (-4, 4))}], height=420)


def beta_maps(mus: list, betas: list, labels):
    """The latent maps of VAEs trained with the given betas, side by side on one frame with the prior's circles."""
    return latent_panels([{"mu": mu, "labels": labels, "title": f"beta = {b:g}", "prior": True,
                           "domain": ((-5, 5), (-5, 5))} for mu, b in zip(mus, betas)], height=380)


def latent_panels(panels: list[dict], height=380, title=None):
    """Several latent maps side by side in one figure (one chart is much cheaper to draw than several).

    Each panel is a dict: ``mu`` (n, 2), ``labels`` (n,), ``title``, optional ``domain`` ((x0, x1), (y0, y1))
    and ``prior`` (draw the 1, 2, 3 sigma circles of N(0, I)). One legend (by digit) serves all panels.
    """
    n = len(panels)
    fig = make_subplots(1, n, subplot_titles=[p["title"] for p in panels], horizontal_spacing=0.06)
    t = np.linspace(0, 2 * np.pi, 90)
    for c, p in enumerate(panels, start=1):
        mu, labels = np.asarray(p["mu"]), np.asarray(p["labels"])
        for d in range(10):
            m = labels == d
            if m.any():
                fig.add_trace(go.Scatter(x=mu[m, 0], y=mu[m, 1], mode="markers", name=str(d), legendgroup=str(d),
                                         showlegend=c == 1, marker=dict(size=4, color=DIGIT_COLORS[d], opacity=0.75),
                                         hovertemplate=f"digit {d}<br>z=(%{{x:.2f}}, %{{y:.2f}})<extra></extra>"),
                              row=1, col=c)
        if p.get("prior"):
            for r in (1, 2, 3):
                fig.add_trace(go.Scatter(x=r * np.cos(t), y=r * np.sin(t), mode="lines", hoverinfo="skip",
                                         line=dict(color="#333", width=1, dash="dot"), legendgroup="prior",
                                         showlegend=c == n and r == 1, name="prior 1, 2, 3 sigma"), row=1, col=c)
        if p.get("domain") is not None:
            fig.update_xaxes(range=list(p["domain"][0]), row=1, col=c)
            fig.update_yaxes(range=list(p["domain"][1]), row=1, col=c)
        fig.update_xaxes(title="z1", constrain="domain", row=1, col=c)
        fig.update_yaxes(title="z2" if c == 1 else None, constrain="domain", scaleanchor=f"x{c if c > 1 else ''}",
                         scaleratio=1, row=1, col=c)
    fig = base_layout(fig, title, height=height)
    fig.update_layout(legend=dict(title="digit", tracegroupgap=0, font=dict(size=11)))
    return fig


def manifold_fig(mos: np.ndarray, axis: np.ndarray, tile: int, dims=(0, 1), title=None, height=520):
    """The decoded latent grid as one grayscale image, with ticks at the latent coordinates of the tiles."""
    n = len(axis)
    centers = [(tile / 2 - 0.5) + i * tile for i in range(n)]  # tile includes the padding pixel
    every = max(1, n // 8)
    # a PNG source keeps the figure small (a 30x30 grid of 28x28 digits is ~0.7 M pixel values as JSON numbers)
    fig = go.Figure(go.Image(source=png_data_uri(mos, scale=1), hoverinfo="skip"))
    fig.update_xaxes(tickvals=centers[::every], ticktext=[f"{a:.2f}" for a in axis[::every]],
                     title=f"z{dims[0] + 1}", showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(tickvals=centers[::every], ticktext=[f"{a:.2f}" for a in axis[::-1][::every]],
                     title=f"z{dims[1] + 1}", autorange="reversed", showgrid=False, zeroline=False,
                     scaleanchor="x", constrain="domain")
    return base_layout(fig, title, height=height)


# ----------------------------------------------------------------------------------------- the ELBO

def elbo_curves(history: list[dict], title=None, beta: float = 1.0):
    """Reconstruction term, KL term and the negative ELBO against the step, train (solid) and test (dashed)."""
    steps = [h["step"] for h in history]
    has_kl = "test/kl" in history[0] if history else False
    panels = [("recon", "reconstruction  -E[ln p(x|z)]")]
    if has_kl:
        panels += [("kl", "KL(q(z|x) || p(z))"), ("elbo", "-ELBO = recon + KL (nats)")]
    fig = make_subplots(1, len(panels), subplot_titles=[p[1] for p in panels], horizontal_spacing=0.08)
    for c, (key, _) in enumerate(panels, start=1):
        for split, dash, color in (("train", "solid", "#0072B2"), ("test", "dash", "#D55E00")):
            k = f"{split}/{key}"
            ys = [(-h[k] if key == "elbo" else h[k]) for h in history if k in h]
            fig.add_trace(go.Scatter(x=steps[: len(ys)], y=ys, mode="lines+markers", name=split,
                                     line=dict(color=color, dash=dash, width=2), marker=dict(size=4),
                                     showlegend=c == 1, legendgroup=split,
                                     hovertemplate=f"{split} step %{{x}}: %{{y:.2f}}<extra></extra>"), row=1, col=c)
        fig.update_xaxes(title="step", row=1, col=c)
    return base_layout(fig, title, height=330)  # it makes room for the subplot titles


def iwae_fig(ks, values, elbo, elbo_label="ELBO (analytic KL, 10 eps draws)", title=None):
    """The importance-weighted estimate of ln p(x) against K, above the ELBO line."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(ks), y=list(values), mode="lines+markers", name="IWAE estimate of ln p(x)",
                             line=dict(color="#009E73", width=3),
                             hovertemplate="K=%{x}: %{y:.2f} nats<extra></extra>"))
    fig.add_trace(go.Scatter(x=[min(ks), max(ks)], y=[elbo, elbo], mode="lines", name=elbo_label,
                             line=dict(color="#D55E00", dash="dash", width=2), hoverinfo="skip"))
    fig.update_xaxes(type="log", title="K importance samples", tickvals=list(ks))
    fig.update_yaxes(title="nats per image (higher is better)")
    return base_layout(fig, title, height=320)


def posterior_fig(grid: dict, title=None, height=380, log: bool = False):
    """The true posterior p(z|x) (filled contours, normalised on the grid) and q_phi(z|x) (its 1/2/3-sigma ellipses).

    ``log=True`` shows ln p(z|x) down to 15 nats below its peak, so that faint far-away modes show up.
    """
    z0, z1 = grid["z0"], grid["z1"]
    if log:
        lp = grid["log_post"]
        z, label, hover = np.maximum(lp, lp.max() - 15.0), "ln p(z|x)", "ln p(z|x)=%{z:.1f}"
    else:
        z, label, hover = np.exp(grid["log_post"]), "p(z|x)", "p(z|x)=%{z:.3g}"
    fig = go.Figure(go.Contour(x=z0, y=z1, z=z, colorscale="Blues", ncontours=14,
                               line=dict(width=0.5), colorbar=dict(title=label, thickness=10),
                               hovertemplate="z=(%{x:.2f}, %{y:.2f})<br>" + hover + "<extra></extra>"))
    for k in (1, 2, 3):
        ex, ey = ellipse_xy(grid["mu"], grid["sigma"] ** 2, k, 90)
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color="#D55E00", width=2, dash="solid" if k == 1 else "dot"),
                                 name="q(z|x): 1, 2, 3 sigma", showlegend=k == 1, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[grid["mu"][0]], y=[grid["mu"][1]], mode="markers", name="mu",
                             marker=dict(symbol="x", size=10, color="#D55E00")))
    fig.update_xaxes(title="z1", range=[z0[0], z0[-1]])
    fig.update_yaxes(title="z2", range=[z1[0], z1[-1]])
    return base_layout(fig, title, height=height)


def reparam_fig(mu, sigma, eps, z, title=None, height=380):
    """z = mu + sigma * eps in the plane of the first two latent dims: the prior, q's ellipse, eps and z."""
    mu, sigma, eps, z = (np.asarray(a, float)[:2] for a in (mu, sigma, eps, z))
    if len(mu) == 1:
        mu, sigma, eps, z = (np.r_[a, 0.0] for a in (mu, sigma, eps, z))
    fig = go.Figure()
    t = np.linspace(0, 2 * np.pi, 90)
    for r in (1, 2):
        fig.add_trace(go.Scatter(x=r * np.cos(t), y=r * np.sin(t), mode="lines", line=dict(color="#999", dash="dot"),
                                 name="eps ~ N(0, I): 1, 2 sigma", showlegend=r == 1, hoverinfo="skip"))
    for k in (1, 2):
        ex, ey = ellipse_xy(mu, sigma ** 2, k, 90)
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color="#0072B2", width=2, dash="solid" if k == 1 else "dot"),
                                 name="q(z|x) = N(mu, sigma^2): 1, 2 sigma", showlegend=k == 1, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[eps[0]], y=[eps[1]], mode="markers", name="eps (drawn, independent of phi)",
                             marker=dict(size=11, color="#999", symbol="diamond")))
    fig.add_trace(go.Scatter(x=[mu[0]], y=[mu[1]], mode="markers", name="mu", marker=dict(size=11, color="#0072B2", symbol="x")))
    fig.add_trace(go.Scatter(x=[z[0]], y=[z[1]], mode="markers", name="z = mu + sigma * eps",
                             marker=dict(size=13, color="#D55E00")))
    fig.add_annotation(x=z[0], y=z[1], ax=mu[0], ay=mu[1], xref="x", yref="y", axref="x", ayref="y",
                       showarrow=True, arrowhead=3, arrowwidth=2, arrowcolor="#D55E00", text="")
    fig.update_xaxes(title="z1")
    fig.update_yaxes(title="z2")
    return base_layout(fig, title, height=height, square=True)


def beta_bars(rows: list[dict], title=None):
    """Reconstruction (train and test) and KL per beta: rows of {label, train_recon, recon, kl}."""
    names = [r["label"] for r in rows]
    fig = make_subplots(1, 2, subplot_titles=["reconstruction -E[ln p(x|z)] (nats)", "KL(q(z|x) || p(z)) (nats)"])
    for split, key, color in (("train", "train_recon", "#56B4E9"), ("test", "recon", "#0072B2")):
        fig.add_trace(go.Bar(x=names, y=[r[key] for r in rows], marker_color=color, name=f"{split} reconstruction",
                             hovertemplate=f"{split} %{{x}}: %{{y:.1f}}<extra></extra>"), 1, 1)
    fig.add_trace(go.Bar(x=names, y=[r["kl"] for r in rows], marker_color="#D55E00", name="test KL",
                         hovertemplate="%{x}: %{y:.2f}<extra></extra>"), 1, 2)
    lo = min(min(r["train_recon"], r["recon"]) for r in rows)
    hi = max(max(r["train_recon"], r["recon"]) for r in rows)
    fig.update_yaxes(range=[lo - 0.3 * (hi - lo) - 1, hi + 0.15 * (hi - lo) + 1], row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(barmode="group")
    fig = base_layout(fig, title, height=310)
    fig.update_layout(legend=dict(x=0.5, xanchor="center"))
    return fig
