"""The GAN page's session, without Streamlit: which GAN a link names and how it is restored, what a Train click and a
tick of Play train, and the numbers the page's views draw. The page passes its store and progress boxes in
(core/ui/gan.py), so every rule here is tested in tests/test_gan_session.py; the family itself is core/gan.py."""
from __future__ import annotations

import hashlib
import time

import numpy as np

from core import checkpoints, runtime
from core import data as gdata
from core.gan import GAN, PRESET_CHECKPOINTS, GANConfig, GANData, TrainingDiverged, coverage_text, from_checkpoint, path_rest, path_text, preset, state_of, to_images

# A page session trains its own GAN. The link names it: the settings, the seed and ``it``, the training path so far
# (:func:`path_text`; left out when it is what these settings open on). Opening a link restores that GAN: from the
# shipped checkpoint or the server's store of GANs trained there (every session's, kept as frozen states), else by
# training it again in one of the server's slots; training is deterministic, so the weights are the same
# (core.ui.live states the rule for every page). The page passes its store and progress boxes in; nothing here
# imports Streamlit, so every rule below is tested in tests/test_gan_session.py.

PAGE_DEFAULT = preset("converges")
#: the shipped GANs of each 2-D data set; one trained with exactly the page's settings opens trained
SHIPPED_2D = {"ring8": ("gan_ring8", "gan_ring8_collapse"), "grid25": ("gan_grid25",), "moons": ("gan_moons",),
              "swiss_roll": ("gan_swiss_roll",),
              **{d: tuple(ck for p, ck in PRESET_CHECKPOINTS.items() if preset(p).data == d)
                 for d in gdata.PACGAN_SETS}}
MAX_LINK_ITERATIONS = 200_000  # the most a link may ask to be trained again (a few runs at the server's cap)
CHART_KEYS = ["train/d_loss", "train/g_loss", "test/d_real", "test/d_fake"]  # the live chart of a progress box
_WHOLE = ("k_d", "g_depth", "d_depth", "noise_dim", "pack", "mbstd")


def page_config(data: str, seed: int, settings: dict) -> GANConfig:
    """The page's config: its data set (``"mine"``: the user's points), seed and settings (GANConfig fields)."""
    return PAGE_DEFAULT.replace(data=data if data != "mine" else "custom", seed=int(seed),
                                n_eval=2500 if data in gdata.PACGAN_SETS else PAGE_DEFAULT.n_eval,  # as PacGAN scores
                                **{k: int(v) if k in _WHOLE else v for k, v in settings.items()})


def comparable(config: GANConfig) -> GANConfig:
    """A config with the fields that do not change the trained model (the step budget) normalised."""
    return config.replace(steps=0)


def user_points(X) -> tuple[str, np.ndarray]:
    """The user's points moved into the toy sets' box [-2.5, 2.5]^2 (in float64: denormals or one repeated point
    never give NaN) and a key naming them; raises core.data.DataError for points that cannot be used."""
    Xn = gdata.normalise_points(X, 2.5, what="a GAN")
    return f"mine:{hashlib.sha1(Xn.tobytes()).hexdigest()[:16]}", Xn


def shipped_path(record: dict) -> list[tuple[str, int]]:
    """A shipped GAN's training path (one run of both players, for checkpoints made before paths were kept)."""
    return [(ph, int(n)) for ph, n in record["meta"].get("path", [["both", record["meta"]["step"]]])]


def progress_every(config: GANConfig, steps: int) -> int:
    """How often a progress box of ``steps`` iterations redraws: about 20 times, on log steps."""
    return max(config.log_every, steps // 20 // config.log_every * config.log_every)


def origin_of(kind: str, step: int, shipped=None) -> dict:
    """Where the session's GAN came from (``kind``: shipped, store, restored or fresh; ``shipped`` = (name, record)),
    for its status line: ``text`` while it is as it came, ``short`` after the session trained it on."""
    if kind == "shipped":
        ck, record = shipped
        return {"step": step, "text": f"Opened trained: shipped checkpoint `{ck}`, made by "
                                      f"`{record['meta'].get('command', '?')}`.",
                "short": f"from the shipped checkpoint `{ck}` (iteration {step:,})"}
    if kind == "store":
        return {"step": step, "text": f"Opened at iteration **{step:,}**, as the link says: this server already held "
                                      "that GAN (same data, settings, seed and training give the same weights).",
                "short": f"from the link's GAN (iteration {step:,})"}
    if kind == "restored":
        return {"step": step, "text": f"Restored from the link: iteration **{step:,}**, trained again here with the "
                                      "link's settings and seed (training is deterministic: the same weights).",
                "short": f"from the link's GAN (iteration {step:,}, restored here)"}
    return {"step": 0, "text": "", "short": "from untrained"}


def status_text(slot: dict) -> str:
    """The status line of the session's GAN (``slot["model"]``, opened as ``slot["origin"]`` says), as it is now."""
    model, o = slot["model"], slot["origin"]
    if model.step_ == 0:
        return "Untrained: press **Train**, **Play** or step one player."
    if model.step_ == o["step"]:
        return o["text"]
    if not o["step"]:
        return f"At iteration **{model.step_:,}**: trained here from untrained networks."
    return f"At iteration **{model.step_:,}**: {o['short']}, then trained {model.step_ - o['step']:,} more here."


class Workbench:
    """The page session's GAN for one data set and settings: ``data`` (a :class:`GANData`), ``key`` naming data and
    settings, ``store`` the server's frozen states (:func:`state_of`) by ``f"{key}|{path_text(path)}"`` (a
    :class:`core.ui.ModelStore`: ``items``, ``get``, ``put`` and ``train(key, fit, ...)``, which calls
    ``fit(progress)`` in a training slot), ``shipped`` = (name, (tensors, record)) of the shipped GAN trained with
    exactly these settings or None, ``shared`` False for the user's own points (never stored, never linked)."""

    def __init__(self, config: GANConfig, data: GANData, key: str, store, shipped=None, shared: bool = True):
        self.config, self.data, self.key, self.store, self.shipped, self.shared = (config, data, key, store, shipped,
                                                                                   shared)
        #: what these settings open on: the shipped GAN's training path, or untrained
        self.default_path = shipped_path(shipped[1][1]) if shipped else []

    def fresh(self) -> GAN:
        m = GAN(self.config)
        m.fit(self.data, 0)  # attaches the data, logs step 0 and takes the first snapshot
        return m

    def thaw(self, state) -> GAN:
        """A session's own GAN from a frozen state (a shipped checkpoint's or the store's), with the data attached."""
        m = from_checkpoint(*state)
        m.fit(self.data, 0)
        return m

    def reach(self, target, own: GAN | None = None) -> tuple[GAN, dict]:
        """The GAN trained along ``target`` (a training path) with these settings, and its origin: the shipped
        checkpoint or a stored state when one is exactly that, else the furthest one on the way (``own``, the
        session's model, among them) trained on in one of the server's slots. A run stopped by the server's time
        cap returns the GAN as far as it got (stored too, so going on starts there)."""
        if not target:
            return self.fresh(), origin_of("fresh", 0)
        text = path_text(target)
        shipped = (self.shipped[0], self.shipped[1][1]) if self.shipped else None
        starts = [(self.default_path, self.shipped[1], "shipped")] if self.shipped else []  # (path, state, kind)
        starts += [([tuple(c) for c in state[1]["meta"]["path"]], state, "store") for key, state in self.store.items()
                   if key.startswith(self.key + "|")]
        for path, state, kind in starts:
            if path == target:
                return self.thaw(state), origin_of(kind, sum(n for _, n in path), shipped if kind == "shipped" else None)
        if own is not None:
            starts.append((own.path_, None, "own"))
        on_the_way = [(p, s, k) for p, s, k in starts if path_rest(target, p) is not None]
        base_path, base_state, base_kind = max(on_the_way, key=lambda c: sum(n for _, n in c[0]), default=([], None, ""))
        rest = path_rest(target, base_path)
        total, todo, start = sum(n for _, n in target), sum(n for _, n in rest), sum(n for _, n in base_path)
        frm = {"shipped": f"the shipped checkpoint at iteration {start:,}",
               "store": f"iteration {start:,}, trained on this server", "own": f"iteration {start:,}"}.get(base_kind,
                                                                                                     "untrained")
        got = {}

        def fit(progress):
            m = own if base_kind == "own" else self.thaw(base_state) if base_state is not None else self.fresh()
            got["model"] = m
            done = 0
            try:
                for phase, n in rest:
                    s0 = m.step_
                    m.fit(self.data, n, callback=lambda s, metrics, s0=s0, done=done: progress(done + s - s0, metrics),
                          phase=phase)
                    done += m.step_ - s0
                    if progress.stopped_for_time:
                        break
            except TrainingDiverged:
                progress.done(f"Training diverged at iteration {m.step_:,}", ok=False)
            else:
                progress.done(f"Restored: iteration {m.step_:,} of {total:,} ({done:,} iterations trained here)")
            if m.path_ == target:
                return state_of(m)
            self.store.put(f"{self.key}|{path_text(m.path_)}", state_of(m))
            return None

        self.store.train(f"{self.key}|{text}", fit, steps=max(todo, 1), every=progress_every(self.config, todo),
                         what="this GAN", chart_keys=CHART_KEYS,
                         label=f"Restoring the GAN this link names: {todo:,} iterations from {frm} to iteration {total:,}")
        m = got.get("model")
        if m is None:  # another session trained it meanwhile
            m = self.thaw(self.store.get(f"{self.key}|{text}"))
        return m, origin_of("restored", m.step_)

    def open(self, slot: dict | None, action: str | None, target) -> dict:
        """The session's slot after this run's ``action`` ("reset", "restore" or anything else) and the link's
        ``target`` path (None: these settings' default): ``{"key", "model", "origin", "stored", "target"}``, a new one
        when the settings changed, a reset asked or the link names another GAN; ``target`` is kept while the GAN
        shown falls short of it (the server's time cap stopped its restoring)."""
        if slot is None or slot["key"] != self.key or action == "reset" or (
                target is not None and target != slot["model"].path_):
            if action == "reset":
                model, origin = self.fresh(), origin_of("fresh", 0)
            else:
                model, origin = self.reach(target if target is not None else self.default_path)
            return {"key": self.key, "model": model, "origin": origin, "stored": path_text(model.path_),
                    "target": target if target is not None and model.path_ != target else None}
        if action == "restore" and slot.get("target"):  # go on towards the link's GAN after the time cap stopped it
            model, origin = self.reach(slot["target"], own=slot["model"])
            slot.update(model=model, origin=origin, target=slot["target"] if model.path_ != slot["target"] else None)
        return slot

    def remember(self, slot: dict) -> None:
        """Keep the session's GAN, as it is now, in the server's store, so its link opens at once for anyone."""
        model = slot["model"]
        text = path_text(model.path_)
        if self.shared and slot.get("stored") != text and model.path_ != self.default_path and model.step_:
            self.store.put(f"{self.key}|{text}", state_of(model))
            slot["stored"] = text


def run_training(model: GAN, data: GANData, steps: int, phase: str = "both", progress=None) -> None:
    """Train ``model`` ``steps`` more iterations of ``phase``, reporting to ``progress(steps done, metrics)``; a
    divergence is kept (``model.diverged_``) for the page to show, not raised."""
    if model.diverged_:
        return
    s0 = model.step_
    cb = (lambda s, m: progress(s - s0, m)) if progress is not None else None
    try:
        model.fit(data, steps, callback=cb, phase=phase)
    except TrainingDiverged:
        pass


def train_label(config: GANConfig, steps: int) -> str:
    """The progress box's label of a Train click."""
    return f"Training {steps:,} iterations ({config.k_d} D step{'s' * (config.k_d > 1)} + 1 G step each)"


def train_click(model: GAN, data: GANData, steps: int, progress) -> None:
    """A Train click: ``steps`` iterations of both players, ended in ``progress`` with the speed reached."""
    t0, s0 = time.perf_counter(), model.step_
    run_training(model, data, steps, "both", progress)
    dt, ran = time.perf_counter() - t0, model.step_ - s0
    if model.diverged_:
        progress.done("Training diverged", ok=False)
    else:
        progress.done(f"Trained {ran:,} iterations in {dt:.1f} s ({ran / max(dt, 1e-9):,.0f} it/s); "
                      f"now at iteration {model.step_:,}")


def play_tick(model: GAN, data: GANData, slot: dict, gate, tick_s: float) -> str | None:
    """One tick of Play: train about ``tick_s`` seconds in log_every chunks, holding one of ``gate``'s slots (a
    :class:`core.admission.Gate`) for the tick only (so a closed tab, whose ticks stop, holds nothing). Returns
    None, "busy" (every slot busy: Play pauses) or "cap" (this stretch of play, ``slot["played_s"]``, reached the
    gate's cap on one action: Play stops)."""
    played = slot.setdefault("played_s", 0.0)
    if played >= gate.seconds:
        return "cap"
    ticket = gate.try_enter("GAN Play")
    if ticket is None:
        return "busy"
    with ticket:
        t_end = time.perf_counter() + tick_s
        while time.perf_counter() < t_end and not model.diverged_:
            run_training(model, data, model.config.log_every)
        slot["played_s"] = played + ticket.elapsed()
    return None


def current_view(model: GAN, seed: int, heat_res: int = 60) -> dict:
    """What the page's views draw of the model as it is now: the heatmap grid ``xs`` and D on it ``Z``, 500 noise
    points ``z`` (seed + 7) and their ``fake`` samples, G's ``manifold`` (not for a cGAN) and G's gradient
    ``arrows`` at 150 fakes (seed + 11)."""
    xs, _ = model.grid(heat_res)
    Z = model.d_grid(heat_res)
    z = model.noise(500, runtime.torch_generator(seed + 7, model.device.type))
    fake = model.generate(z)
    manifold = model.manifold(15) if not model.conditional else None
    arrows = model.g_gradients(150, seed=seed + 11)
    return {"xs": xs, "Z": Z, "z": z.cpu().numpy(), "fake": fake, "manifold": manifold, "arrows": arrows}


def coverage_verdict(h: dict) -> tuple[str, str] | None:
    """("warning" | "success", text) on mode coverage from a model's latest metrics ``h``, or None."""
    if "test/modes" not in h or h["step"] <= 0:
        return None
    modes, n, hq = h["test/modes"], h["test/n_modes"], h["test/hq"]
    if modes < n and hq > 0.5:
        return "warning", (f"Right now G covers **{modes} of {n}** modes with {100 * hq:.0f}% "
                           "high-quality samples: sharp samples, missing modes, the signature of mode collapse.")
    if modes == n:
        return "success", f"All {n} modes captured, {100 * hq:.0f}% of samples high quality."
    return None


def curve_metrics(h: dict, d_kind: str = "prob") -> list[tuple[str, str, str | None]]:
    """The numbers under the training curves, from a model's latest metrics ``h``: (label, value, help) for D on
    real and fake data, the JS (or, for a critic, Wasserstein) estimate and the histograms' JS."""
    nan = float("nan")
    if d_kind == "prob":
        jv = h.get("test/js_value")
        rows = [("mean D(real)", f"{h.get('test/d_real', nan):.3f}", None), ("mean D(fake)", f"{h.get('test/d_fake', nan):.3f}", None),
                ("JS from the value", f"{jv:.3f}" if jv is not None else "-",
                 "(L + ln 4) / 2 with the current D: the JSD if D were optimal, a lower bound otherwise.")]
    else:
        rows = [("mean critic(real)", f"{h.get('test/d_real', nan):.3f}", None),
                ("mean critic(fake)", f"{h.get('test/d_fake', nan):.3f}", None),
                ("Wasserstein estimate", f"{h.get('test/w_estimate', nan):.3f}",
                 "E_r[f] - E_g[f]: WGAN-GP's critic estimates a Wasserstein distance, not the JSD.")]
    return rows + [("JS of grid histograms", f"{h.get('test/js_hist', nan):.3f}",
                    "40x40 cells over the plot box; 0 = same histogram, ln 2 = 0.693 = no overlap.")]


def measured(name: str, record_of) -> str:
    """What the shipped checkpoint of preset ``name`` measured (its JSON's history; ``record_of(checkpoint)`` gives
    the record or raises CheckpointError), or why there is no number."""
    ck = PRESET_CHECKPOINTS[name]
    try:
        return coverage_text(record_of(ck)["meta"].get("history", []), f"`{ck}`, seed 0")
    except checkpoints.CheckpointError:
        return f"(checkpoint `{ck}` missing: no measured number)"


def ring_cgan_view(model: GAN, label: int, n: int, seed: int, res: int = 50) -> dict:
    """The ring cGAN for mode ``label``: ``n`` samples (``fake``), D(x | label) on a res x res grid (``xs``, ``Z``),
    the ring's ``centers`` and the share of samples within 3 std of the chosen mode's centre (``on_mode``)."""
    fake = model.sample(n, seed=seed, y=label)
    xs, _ = model.grid(res)
    Z = model.d_grid(res, y=label)
    centers, std = gdata.mixture_modes("ring8")
    on_mode = float((np.linalg.norm(fake - centers[label], axis=1) <= 3 * std).mean())
    return {"fake": fake, "xs": xs, "Z": Z, "centers": centers, "on_mode": on_mode}


def digit_images(model: GAN, digit: int, n: int, seed: int) -> np.ndarray:
    """``n`` samples of the digit cGAN for ``digit``, as images (n, 28, 28) in [0, 1]."""
    return to_images(model.sample(n, seed=seed, y=digit))
