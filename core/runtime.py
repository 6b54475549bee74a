"""Device, dtype, threads and seeding.

Every model module asks this module which device to use; nothing in GenLab
hard-codes ``"cuda"`` or ``"cpu"``. Randomness is always passed explicitly as a
``torch.Generator`` or ``numpy.random.Generator`` built from a seed, never the
global random state (the scikit-learn convention).
"""
from __future__ import annotations

import os
from functools import cache

import numpy as np

#: Environment variable that forces a device ("cpu", "cuda", "cuda:1", "mps").
DEVICE_ENV = "GENLAB_DEVICE"


@cache
def pick_device(prefer: str | None = None) -> str:
    """Return the best available device: ``GENLAB_DEVICE`` or ``prefer`` if set, else cuda > mps > cpu."""
    import torch

    choice = prefer or os.environ.get(DEVICE_ENV, "").strip() or None
    if choice:
        kind = choice.split(":")[0]
        if kind not in ("cpu", "cuda", "mps"):
            raise ValueError(f"Unknown device {choice!r}; valid choices are 'cpu', 'cuda[:i]' and 'mps'.")
        if kind == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"Device {choice!r} was asked for but CUDA is not available here.")
        if kind == "mps" and not torch.backends.mps.is_available():
            raise ValueError("Device 'mps' was asked for but MPS is not available here.")
        return choice
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_label(device: str | None = None) -> str:
    """A short human description of the device, e.g. ``'cuda (NVIDIA H100)'`` or ``'cpu (2 threads)'``."""
    import torch

    device = device or pick_device()
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    if device == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device


def inference_dtype(device: str):
    """Half precision on CUDA (as diffusers pipelines are usually run), float32 elsewhere."""
    import torch

    return torch.float16 if str(device).startswith("cuda") else torch.float32


def torch_device_type(device) -> str:
    """``"cuda"`` for ``"cuda:1"`` or ``torch.device("cuda", 1)``; ``"cpu"`` for ``"cpu"``."""
    return getattr(device, "type", None) or str(device).split(":")[0]


@cache
def bf16_is_fast(kind: str) -> bool:
    """Whether bfloat16 matmuls run natively on devices of ``kind`` ("cpu", "cuda": :func:`torch_device_type`):
    CUDA with bf16 support, or a CPU with AVX-512 BF16 or AMX (what oneDNN needs for its bf16 kernels).

    Elsewhere bf16 is emulated and much slower than float32: on an AVX2-only CPU here a 512x512 bf16
    matmul ran at 1.2 GFLOP/s against 64 GFLOP/s in float32, and sampling a model trained under bf16
    autocast took minutes instead of seconds.
    """
    import torch

    try:
        if kind == "cuda":
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        if kind == "cpu":
            native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
            return bool(native and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without these probes: take the safe path
        return False
    return False


def effective_precision(device, precision: str) -> str:
    """The precision a model configured with ``precision`` ("fp32" or "bf16") really runs in on
    ``device``: "bf16" only where :func:`bf16_is_fast`, else "fp32" (the weights are float32 either way)."""
    return "bf16" if precision == "bf16" and bf16_is_fast(torch_device_type(device)) else "fp32"


def autocast(device, precision: str):
    """The context a model's network runs under: ``torch.autocast`` in bfloat16 when ``precision`` is
    "bf16" and the device runs bf16 natively (:func:`effective_precision`), else no autocast (float32).

    So a model trained under bf16 autocast on a machine with AMX still samples at full speed on a
    CPU without it, in float32."""
    import contextlib

    import torch

    if effective_precision(device, precision) == "bf16":
        return torch.autocast(torch_device_type(device), dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads (default: all cores this process may use) and return the count.

    GenLab's one thread policy: a process sets its thread count once, at its start, and nothing changes
    it per request (a save/restore of this process-wide setting in two sessions' threads at once left every
    later script thread on the wrong count). The CLIs call this with ``--threads``; the server calls
    :func:`server_threads`."""
    import torch

    if n is None:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            n = os.cpu_count() or 1
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def server_threads() -> int:
    """The server's thread policy: ``GENLAB_TORCH_THREADS`` torch threads (default 1) in every script thread.

    One thread per computation: the models are small (a 2-D MLP runs as fast on one core), and on a shared
    2-core server several sessions' OpenMP teams would spin against each other (measured 10x slower under
    load). The router calls this at the start of every run with the same value, so a script thread that
    torch started with another count is brought in line, and no run ever sets a different one."""
    try:
        n = int(os.environ.get("GENLAB_TORCH_THREADS", "1"))
    except ValueError:
        n = 1
    return set_threads(max(1, n))


def torch_generator(seed: int, device: str = "cpu"):
    """A ``torch.Generator`` seeded with ``seed`` on ``device`` (the only way GenLab draws torch randomness)."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def numpy_rng(seed: int) -> np.random.Generator:
    """A ``numpy.random.Generator`` seeded with ``seed``."""
    return np.random.default_rng(int(seed))


def seeded_init(module_factory, seed: int):
    """Build a torch module with its parameter initialisation drawn from ``seed``.

    torch's initialisers only use the global generator, so this forks the global RNG,
    seeds it, builds the module and restores the previous state: the caller's global
    state is left as it was and the weights depend on ``seed`` alone.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return module_factory()
