"""What every family's training shares: the config base, the one training loop, and its pieces.

Every family (``core/gan.py``, ``vae.py``, ``flow.py``, ``diffusion.py``, ``guided.py``, ``text_to_image.py``)
follows one shape (DESIGN.md, "One shape for every model family"):

- a frozen ``@dataclass`` config on :class:`Config` (``replace``, ``to_dict``/``from_dict``, an argparse made
  from its fields, validation errors that list the valid choices: :func:`check_choice`);
- ``train(config, data=None, callback=None, *, model=None, until=None, device=None) -> model`` through
  :func:`loop`: the family writes one training step, the loop does the rest (windows of train metrics,
  evaluation, the callback that may stop it, divergence, timing), so resuming (``model=``, ``until=``) and the
  metric keys (``train/...``, ``test/...``) mean the same in every family;
- per-step randomness from :func:`step_generator` and minibatches from :func:`batch_index`, both derived from
  ``(seed, step)``, so training in chunks is bit-identical to one long run.

This module imports torch only inside the functions that need it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import typing

import numpy as np


class TrainingDiverged(RuntimeError):
    """Training produced NaN/inf and was stopped, never hidden.

    ``.reason`` says what went wrong, ``.step`` where, and ``.model`` is the model as the family
    leaves it (see the family's ``train`` docstring: usually the last finite weights), so a page
    can still show how far training got.
    """

    def __init__(self, reason: str, step: int | None = None, model=None):
        where = f" at step {step}" if step is not None else ""
        super().__init__(f"Training diverged{where}: {reason}. Try a smaller learning rate or another seed.")
        self.reason = reason
        self.step = step
        self.model = model


def check_choice(name: str, value, valid) -> None:
    """Raise a ValueError that lists the valid choices (diffusers' style) when ``value`` is not one of them."""
    if value not in valid:
        raise ValueError(f"Unknown {name} {value!r}; valid choices are {list(valid)}.")


# ----------------------------------------------------------------------------------------------- config

class Config:
    """Base of every family's frozen config dataclass: hyperparameters and seed, nothing fitted.

    ``from_dict`` refuses unknown keys by name (a checkpoint's JSON or a link never silently drops a setting);
    :meth:`add_arguments` / :meth:`from_arguments` make the command line of ``python -m core train <family>``
    from the fields, so a new field is a new flag without further code.
    """

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready: tuples become lists."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: dict):
        names = cls.field_names()
        unknown = set(d) - set(names)
        if unknown:
            raise ValueError(f"Unknown {cls.__name__} fields {sorted(unknown)}; valid fields are {sorted(names)}.")
        return cls(**d)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, base=None) -> None:
        """One ``--<field>`` flag per field: :func:`add_arguments`."""
        add_arguments(cls, parser, base)

    @classmethod
    def from_arguments(cls, namespace: argparse.Namespace):
        return from_arguments(cls, namespace)


def add_arguments(cls, parser: argparse.ArgumentParser, base=None) -> None:
    """One ``--<field>`` flag per field of the dataclass ``cls`` (``-`` for ``_``), typed by the field's
    annotation; the defaults are ``base``'s values (a preset), else the class's, so :func:`from_arguments` of no
    flags is ``base`` or ``cls()``."""
    hints = typing.get_type_hints(cls)
    base = cls() if base is None else base
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        default = getattr(base, f.name)
        origin = typing.get_origin(kind)
        if kind is bool:
            parser.add_argument(flag, dest=f.name, type=_boolean, default=default, metavar="true|false")
        elif origin in (tuple, list) or kind in (tuple, list):
            item = next((t for t in typing.get_args(kind) if t is not Ellipsis), None)
            item = item or (type(default[0]) if default else str)
            parser.add_argument(flag, dest=f.name, type=item, nargs="*", default=default)
        else:
            typ = next((t for t in typing.get_args(kind) if t is not type(None)), str) if origin else kind
            parser.add_argument(flag, dest=f.name, type=typ, default=default)


def from_arguments(cls, namespace: argparse.Namespace):
    """The config of the dataclass ``cls`` that :func:`add_arguments`' flags describe (lists become tuples)."""
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if hasattr(namespace, f.name)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls.from_dict(values) if hasattr(cls, "from_dict") else cls(**values)


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# -------------------------------------------------------------------------------------- the step's pieces

def step_generator(seed: int, step: int, device: str):
    """The torch generator of training step ``step``, derived from (seed, step): chunked runs match one long run."""
    from core import runtime

    s = int(np.random.SeedSequence([int(seed), int(step)]).generate_state(1)[0])
    return runtime.torch_generator(s, device)


def batch_index(n: int, batch: int, seed: int, step: int) -> np.ndarray:
    """The minibatch of step ``step``: epochs are seeded permutations of the ``n`` training rows (drop-last)."""
    batch = min(batch, n)
    per_epoch = n // batch
    epoch, j = divmod(step, per_epoch)
    perm = np.random.default_rng([int(seed), 1, int(epoch)]).permutation(n)
    return perm[j * batch: (j + 1) * batch]


def clip_and_step(optimizer, parameters, clip: float = 0.0) -> None:
    """Clip the gradients' global norm to ``clip`` (0 = no clipping) and take the optimiser's step."""
    if clip:
        import torch

        torch.nn.utils.clip_grad_norm_(parameters, clip)
    optimizer.step()


def check_terms(terms: dict, step: int, model) -> None:
    """Raise :class:`TrainingDiverged` when a term of this step is NaN/inf: call it before ``backward`` so the
    model keeps its last finite weights."""
    bad = [k for k, v in terms.items() if not math.isfinite(_scalar(v))]
    if bad:
        raise TrainingDiverged(f"the {' and '.join(bad)} became {_scalar(terms[bad[0]])}", step, model)


def check_weights(parameters, step: int, model) -> None:
    """Raise :class:`TrainingDiverged` when an update left a weight NaN/inf."""
    import torch

    if not all(torch.isfinite(p).all() for p in parameters):
        raise TrainingDiverged("the weights became NaN/inf after the update", step, model)


def ema_update(ema_net, net, decay: float, step: int) -> None:
    """theta_ema <- d theta_ema + (1 - d) theta, with d = min(decay, (1 + step) / (10 + step)): the warm-up of
    diffusers' ``EMAModel``, so early samples are not dominated by the random initial weights."""
    import torch

    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        torch._foreach_lerp_(list(ema_net.parameters()), list(net.parameters()), 1 - d)


# ------------------------------------------------------------------------------------------ the loop

def _scalar(v) -> float:
    return float(v.detach().mean().item()) if hasattr(v, "detach") else float(v)


def _plain(v):
    """An evaluation's value as the history keeps it: a number (a tensor's or numpy's scalar as a Python one), or
    as it is (a count per mode, a list)."""
    if hasattr(v, "ndim") and v.ndim == 0:
        return v.item()
    return v


def loop(model, step, *, end: int, log_every: int, eval_every: int, evaluate=None, callback=None) -> bool:
    """Run training steps ``model.step_ .. end - 1``; return True when the callback stopped it early.

    - ``step(s) -> {name: value}`` runs training step ``s`` (forward, backward, the optimiser's step: what the
      family teaches) and returns that step's train terms (floats or tensors, averaged to a float).
    - A term that is not finite raises :class:`TrainingDiverged` (``model.step_`` is left at ``s``); a step
      should call :func:`check_terms` itself before ``backward``, so the weights stay the last finite ones.
    - Every ``log_every`` steps, and at ``end``, the terms averaged over the window become ``train/<name>``;
      every ``eval_every`` steps and at ``end`` ``evaluate() -> {name: value}`` adds ``test/<name>``, and the
      metrics are appended to ``model.history_`` with their ``step``.
    - ``callback(step, metrics)`` gets a copy of them; returning True or ``"stop"`` stops after this step.
    - ``model.train_seconds_`` grows by the time spent in ``step`` only (evaluation and callbacks left out).
    """
    window: dict[str, float] = {}
    count = 0
    stopped = False
    while model.step_ < end and not stopped:
        s = model.step_
        t0 = time.perf_counter()
        terms = {k: _scalar(v) for k, v in step(s).items()}
        model.train_seconds_ += time.perf_counter() - t0
        check_terms(terms, s, model)
        model.step_ = s + 1
        for k, v in terms.items():
            window[k] = window.get(k, 0.0) + v
        count += 1
        done = model.step_
        evaluating = evaluate is not None and (done % eval_every == 0 or done == end)
        if done % log_every == 0 or evaluating or done == end:
            metrics = {f"train/{k}": v / count for k, v in window.items()}
            window, count = {}, 0
            if evaluating:
                metrics.update({f"test/{k}": _plain(v) for k, v in evaluate().items()})
                model.history_.append({"step": done, **metrics})
            if callback is not None:
                r = callback(done, dict(metrics))
                stopped = r is True or r == "stop"
    return stopped
