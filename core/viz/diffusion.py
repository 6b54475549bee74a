"""Figures of the diffusion page: schedules, the forward process, reverse trajectories, sampler comparisons.

Data in, figure out (plotly); no Streamlit, no training. Images are (n, H, W) arrays; x_t in the model's
[-1, 1] pixel scale is shown with black = -1 and white = +1 (values beyond are clipped), predicted noise on a
diverging scale.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.metrics import mosaic
from core.viz.common import PALETTE, base_layout, metric_label

SCHEDULE_COLORS = {"linear": PALETTE[0], "cosine": PALETTE[1]}
SAMPLER_COLORS = {"ddpm": PALETTE[5], "ddim": PALETTE[0]}
BOX = 3.5  # the toy sets lie within [-3, 3]^2


def schedule_fig(schedules: dict, t: int | None = None, height: int = 300) -> go.Figure:
    """beta_t, alpha_bar_t and log10 SNR(t) of each schedule ({name: core.diffusion.schedule(...)}), with a marker at t."""
    fig = make_subplots(1, 3, subplot_titles=("β<sub>t</sub> (noise added at step t)",
                                              "ᾱ<sub>t</sub> (signal kept from x<sub>0</sub>)",
                                              "log<sub>10</sub> SNR(t) = log<sub>10</sub> ᾱ<sub>t</sub>/(1−ᾱ<sub>t</sub>)"),
                        horizontal_spacing=0.07)
    for name, s in schedules.items():
        T = len(s["beta"]) - 1
        ts = np.arange(1, T + 1)
        for col, y in enumerate((s["beta"][1:], s["alpha_bar"][1:], np.log10(np.asarray(s["snr"][1:], float)))):
            fig.add_trace(go.Scatter(x=ts, y=np.asarray(y, float), name=name, legendgroup=name, showlegend=col == 0,
                                     line=dict(color=SCHEDULE_COLORS.get(name, PALETTE[2]), width=2),
                                     hovertemplate=f"{name}<br>t=%{{x}}<br>%{{y:.4g}}<extra></extra>"), 1, col + 1)
    if t is not None:
        for col in range(3):
            fig.add_vline(x=t, line=dict(color="#888", dash="dot"), row=1, col=col + 1)
    fig.update_xaxes(title_text="t")
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)  # the cosine schedule's beta ends at 0.999
    return base_layout(fig, height=height)


def _img_trace(img: np.ndarray, signed: bool, zmax: float = 1.0, showscale: bool = False):
    if signed:
        return go.Heatmap(z=img, colorscale="RdBu", zmid=0, zmin=-zmax, zmax=zmax, showscale=showscale,
                          hovertemplate="%{z:.2f}<extra></extra>")
    return go.Heatmap(z=img, colorscale="gray", zmin=-1, zmax=1, showscale=showscale,
                      hovertemplate="%{z:.2f}<extra></extra>")


def _player(labels: list[str], active: int, play: str, frame_ms: int, from_current: bool, y: float, slider: dict) -> dict:
    """The layout of an animated figure's controls: play and pause buttons at height ``y``, and a slider with one
    step per frame (frame ``k`` is named ``str(k)``, labelled ``labels[k]``) placed by ``slider``."""
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    steps = [dict(method="animate", label=label, args=[[str(k)], still]) for k, label in enumerate(labels)]
    buttons = [dict(label=play, method="animate", args=[None, dict(frame=dict(duration=frame_ms, redraw=True),
                                                                   fromcurrent=from_current, transition=dict(duration=0))]),
               dict(label="❚❚ pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])]
    return dict(updatemenus=[dict(type="buttons", direction="left", x=0, y=y, xanchor="left", yanchor="top", showactive=False,
                                  buttons=buttons)],
                sliders=[dict(active=active, steps=steps, yanchor="top", **slider)])


def _mosaic(imgs: np.ndarray, ncols: int, fill: float) -> np.ndarray:
    return mosaic(imgs, ncols=ncols, pad=1, fill=fill)[::-1]  # heatmaps draw row 0 at the bottom


def image_panels(panels: list[tuple[str, np.ndarray, bool]], ncols: int = 8, height: int = 260,
                 title: str | None = None) -> go.Figure:
    """Side-by-side image mosaics: ``panels`` = [(title, images (n, H, W), signed?)]. Unsigned images are in
    [-1, 1] (x_t, x0_hat), signed ones (noise) get a red-blue scale."""
    fig = make_subplots(1, len(panels), subplot_titles=[p[0] for p in panels], horizontal_spacing=0.03)
    for i, (_, imgs, signed) in enumerate(panels):
        zmax = float(max(1.0, np.percentile(np.abs(imgs), 99))) if signed else 1.0
        m = _mosaic(imgs, ncols, 0.0 if signed else 1.0)
        fig.add_trace(_img_trace(m, signed, zmax), 1, i + 1)
        # square pixels: fixed ranges, and each subplot's domain shrinks to the mosaic's aspect
        fig.update_xaxes(range=[-0.5, m.shape[1] - 0.5], constrain="domain", row=1, col=i + 1)
        fig.update_yaxes(range=[-0.5, m.shape[0] - 0.5], constrain="domain", scaleanchor=f"x{i + 1 if i else ''}",
                         row=1, col=i + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    base_layout(fig, title=title, height=height)
    fig.update_layout(margin=dict(l=5, r=5, b=5))
    return fig


def panel_image(images: np.ndarray, ncols: int = 8, signed: bool = False, scale: int = 4, zmax: float | None = None) -> np.ndarray:
    """A static RGB uint8 mosaic of (n, H, W) images for ``st.image`` (much lighter in the browser than a plotly
    heatmap): values in [-1, 1] as grey (black = -1), or ``signed`` ones (noise) on a red-white-blue scale scaled by
    ``zmax`` (default: the 99th percentile of |values|). Pixels are upscaled ``scale`` times, nearest neighbour."""
    imgs = np.asarray(images, np.float32)
    m, gap = mosaic(imgs, ncols=ncols, pad=1, gaps=True)
    if signed:
        zmax = float(zmax or max(1e-6, np.percentile(np.abs(imgs), 99)))
        u = np.clip(m / zmax, -1, 1)
        red, blue, white = np.array([178, 24, 43.]), np.array([33, 102, 172.]), np.array([247, 247, 247.])
        rgb = np.where(u[..., None] > 0, white + u[..., None] * (blue - white), white - u[..., None] * (red - white))
        rgb[gap] = 255
    else:
        g = (np.clip(m, -1, 1) + 1) * 127.5
        rgb = np.repeat(g[..., None], 3, -1)
        rgb[gap] = 255
    rgb = np.kron(rgb, np.ones((scale, scale, 1)))
    return rgb.round().astype(np.uint8)


def reverse_animation(t: list, x: np.ndarray, eps: np.ndarray, x0: np.ndarray, ncols: int = 8,
                      height: int = 300, start: int = 0) -> go.Figure:
    """The reverse process as a plotly animation (play / pause / frame slider run in the browser): for every step
    k, the three panels x_t, eps_theta(x_t, t) and x0_hat. ``x`` (K+1, n, H, W), ``eps``/``x0`` (K, n, H, W)."""
    K = len(t)
    zmax = float(max(1.0, np.percentile(np.abs(eps), 99)))
    panel = lambda k: [(f"x<sub>t</sub>, t = {t[k]}", x[k], False), ("predicted noise ε<sub>θ</sub>(x<sub>t</sub>, t)", eps[k], True),
                       ("predicted x<sub>0</sub>", x0[k], False)]
    start = int(np.clip(start, 0, K - 1))
    fig = image_panels(panel(start), ncols=ncols, height=height)

    def traces(k):
        return [go.Heatmap(z=_mosaic(x[k], ncols, 1.0)), go.Heatmap(z=_mosaic(eps[k], ncols, 0.0), zmin=-zmax, zmax=zmax),
                go.Heatmap(z=_mosaic(x0[k], ncols, 1.0))]

    fig.frames = [go.Frame(data=traces(k), name=str(k), traces=[0, 1, 2],
                           layout=dict(annotations=[dict(text=f"x<sub>t</sub>, t = {t[k]}")])) for k in range(K)]
    fig.update_traces(selector=dict(type="heatmap"))
    fig.data[1].update(zmin=-zmax, zmax=zmax)
    fig.update_layout(height=height + 90, **_player(
        [str(k + 1) for k in range(K)], start, "▶ play", 120, True, -0.08,
        dict(x=0.16, len=0.84, y=-0.02, currentvalue=dict(prefix="step ", visible=True), pad=dict(t=30))))
    return fig


def points_fig(clouds: list[tuple[str, np.ndarray, str]], height: int = 380, title: str | None = None) -> go.Figure:
    """Scatter of 2-D point clouds [(name, points (n, 2), colour)] on the common [-3.5, 3.5]^2 box."""
    fig = go.Figure()
    for name, pts, color in clouds:
        fig.add_trace(go.Scattergl(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name,
                                   marker=dict(size=3, color=color, opacity=0.6)))
    return _box(fig, height, title)


def _box(fig, height, title, lim: float = BOX):
    fig.update_xaxes(range=[-lim, lim], zeroline=False, constrain="domain")
    fig.update_yaxes(range=[-lim, lim], zeroline=False, constrain="domain")
    return base_layout(fig, title=title, height=height, square=True)


def trajectory_animation(t: list, x: np.ndarray, data: np.ndarray, n_paths: int = 30, height: int = 460,
                         lim: float = 4.0) -> go.Figure:
    """Points travelling from noise onto the data: frames of x_t for each step (``x`` (K+1, n, 2)), the data in grey
    and the full paths of ``n_paths`` points as thin lines. It opens on the last frame, the samples (opened on the
    first, it showed pure noise until Play was pressed); Play runs the chain from the noise."""
    K = len(t)
    labels = [f"t = {tt}" for tt in t] + ["t = 0 (x<sub>0</sub>)"]
    fig = go.Figure()  # SVG traces only: plotly.js animates scatter, not scattergl
    fig.add_trace(go.Scatter(x=data[:, 0], y=data[:, 1], mode="markers", name="data",
                             marker=dict(size=3, color="#bbbbbb"), hoverinfo="skip"))
    for i in range(min(n_paths, x.shape[1])):
        fig.add_trace(go.Scatter(x=x[:, i, 0], y=x[:, i, 1], mode="lines", line=dict(width=0.7, color=PALETTE[3]),
                                 opacity=0.45, showlegend=i == 0, name="paths", legendgroup="paths", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x[K, :, 0], y=x[K, :, 1], mode="markers", name="samples x<sub>t</sub>",
                             marker=dict(size=4, color=PALETTE[0])))
    idx = len(fig.data) - 1
    fig.frames = [go.Frame(data=[go.Scatter(x=x[k, :, 0], y=x[k, :, 1])], traces=[idx], name=str(k),
                           layout=dict(title_text=labels[k])) for k in range(K + 1)]
    _box(fig, height, labels[K], lim)
    fig.update_layout(
        **_player([lab.split(" (")[0] for lab in labels[:K + 1]], K, "▶ play from noise", 80, False, -0.12,
                  dict(x=0.3, len=0.7, y=-0.06, currentvalue=dict(visible=False))),
        legend=dict(y=1.02, yanchor="bottom", x=1, xanchor="right", orientation="h"), margin=dict(b=90))
    return fig


def sampler_quality_fig(rows: list[dict], metric: str = "swd", label: str = "sliced W to held-out (lower: better)",
                        height: int = 340) -> go.Figure:
    """Quality against seconds for each sampler: one line per sampler through its step counts (text = steps)."""
    fig = go.Figure()
    for s in sorted({r["sampler"] for r in rows}):
        rr = sorted((r for r in rows if r["sampler"] == s), key=lambda r: r["steps"])
        fig.add_trace(go.Scatter(x=[r["seconds"] for r in rr], y=[r[metric] for r in rr], mode="lines+markers+text",
                                 text=[f"{r['steps']}" for r in rr], textposition="top center", name=s.upper(),
                                 line=dict(color=SAMPLER_COLORS.get(s))))
    fig.update_xaxes(title_text="seconds to sample (log)", type="log")
    fig.update_yaxes(title_text=label)
    return base_layout(fig, height=height)


def loss_fig(history: list[dict], height: int = 280) -> go.Figure:
    """Train / held-out Algorithm-1 loss (and sliced Wasserstein where logged) against step."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for key, color, sec in (("train/loss", PALETTE[0], False), ("test/loss", PALETTE[1], False), ("test/swd", PALETTE[2], True)):
        pts = [(h["step"], h[key]) for h in history if key in h]
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=metric_label(key),
                                     mode="lines+markers", line=dict(color=color)), secondary_y=sec)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="‖ε − ε<sub>θ</sub>‖² (per dim)", secondary_y=False)
    fig.update_yaxes(title_text="sliced Wasserstein", secondary_y=True)
    base_layout(fig, height=height)
    fig.update_layout(legend=dict(y=1.02, yanchor="bottom"), margin=dict(t=30))
    return fig


def forward_moments(x0: np.ndarray, closed: np.ndarray, chain: np.ndarray, alpha_bar: float, t: int) -> list[dict]:
    """The forward-process table: mean of x_t and variance of its noise part x_t - sqrt(alpha_bar_t) x_0 for the
    closed form (F2) and the chain (F1), against the formula (mean sqrt(alpha_bar_t) E[x_0], variance 1 - alpha_bar_t)."""
    signal = np.sqrt(alpha_bar) * x0
    row = lambda name, x: {"": name, "mean x": x.mean(0)[0], "mean y": x.mean(0)[1],
                           "noise var x": (x - signal).var(0)[0], "noise var y": (x - signal).var(0)[1]}
    m_pred = np.sqrt(alpha_bar) * x0.mean(0)
    return [row("closed form", closed), row(f"chain ({t} steps)", chain),
            {"": "formula", "mean x": m_pred[0], "mean y": m_pred[1], "noise var x": 1 - alpha_bar, "noise var y": 1 - alpha_bar}]


def denoise_columns(x0: np.ndarray, rows: list) -> tuple:
    """core.diffusion.denoise_levels' output as two mosaics' images, the clean digits on top of each: (noised x_t,
    one-step estimates x0_hat, "t1, t2, ..." of the rows below)."""
    noised = np.concatenate([x0] + [xt for _, xt, _ in rows])
    denoised = np.concatenate([x0] + [xh for _, _, xh in rows])
    return noised, denoised, ", ".join(str(t) for t, _, _ in rows)
