"""Checkpoints: safetensors weights plus a JSON config, and the registry of shipped ones.

A checkpoint named ``NAME`` is two files in one folder:

- ``NAME.safetensors``: the tensors (never a pickle, so loading runs no code);
- ``NAME.json``: ``{"family", "config", "config_hash", "weights_sha256", "meta"}``,
  where ``meta`` holds free-form facts such as the CLI ``command`` that reproduces it,
  training seconds and final metrics.

This mirrors diffusers' ``save_pretrained``: the constructor's keywords (the config)
are saved as JSON beside the weights and rebuild the model.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

#: Folder of the checkpoints that ship with GenLab.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or corrupt. The message says which file and why."""

    def __init__(self, message: str, path: Path | str | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


def _plain(obj: Any) -> Any:
    """Turn a config (dataclass, dict, tuple ...) into plain JSON-able values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _plain(obj.item())
    return obj


def config_hash(config: Any, length: int = 12) -> str:
    """A stable hash of a config: sha256 of its canonical JSON (sorted keys, no spaces).

    Equal configs give equal hashes across processes and machines, so the hash can key
    caches and name checkpoint files.
    """
    text = json.dumps(_plain(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _paths(path: Path | str) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save(path: Path | str, tensors: dict, config: Any, family: str, meta: dict | None = None) -> Path:
    """Save ``tensors`` (a state dict) and ``config`` as ``path.safetensors`` + ``path.json``.

    Returns the path of the weights file.
    """
    from safetensors.torch import save_file

    weights, cfg = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    # safetensors wants contiguous tensors that share no memory
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(weights))
    weights.chmod(0o644)  # safetensors writes owner-only files; checkpoints are meant to be shipped
    record = {
        "family": family,
        "config": _plain(config),
        "config_hash": config_hash(config),
        "weights_sha256": _sha256(weights),
        "meta": _plain(meta or {}),
    }
    cfg.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return weights


def read_record(path: Path | str) -> dict:
    """Read and check a checkpoint's JSON record (no weights)."""
    _, cfg = _paths(path)
    if not cfg.exists():
        raise CheckpointError(f"Checkpoint config {cfg.name} is missing (looked in {cfg.parent}).", cfg)
    try:
        record = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"Checkpoint config {cfg.name} is not valid JSON: {e}", cfg) from e
    missing = {"family", "config", "weights_sha256"} - set(record if isinstance(record, dict) else {})
    if missing:
        raise CheckpointError(f"Checkpoint config {cfg.name} lacks the fields {sorted(missing)}.", cfg)
    return record


def load(path: Path | str, device: str = "cpu") -> tuple[dict, dict]:
    """Load a checkpoint and return ``(tensors, record)``.

    Raises :class:`CheckpointError` with a clear message when either file is missing,
    the weights do not match the hash recorded at save time, or safetensors cannot parse them.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, _ = _paths(path)
    record = read_record(path)
    if not weights.exists():
        raise CheckpointError(f"Checkpoint weights {weights.name} are missing (looked in {weights.parent}).", weights)
    if _sha256(weights) != record["weights_sha256"]:
        raise CheckpointError(
            f"Checkpoint weights {weights.name} are corrupt: their sha256 differs from the one saved with them.",
            weights,
        )
    try:
        tensors = load_file(str(weights), device=device)
    except (SafetensorError, OSError, ValueError) as e:  # pragma: no cover - hash check catches most
        raise CheckpointError(f"Checkpoint weights {weights.name} could not be read: {e}", weights) from e
    return tensors, record


def registry(folder: Path | str = SHIPPED_DIR) -> dict[str, dict]:
    """The shipped checkpoints: ``{name: record}`` for every ``*.json`` beside a ``*.safetensors``.

    Each record's ``meta["command"]`` is the exact CLI command that reproduces it.
    """
    folder = Path(folder)
    out = {}
    for cfg in sorted(folder.glob("*.json")):
        if cfg.with_suffix(".safetensors").exists():
            try:
                out[cfg.stem] = read_record(cfg)
            except CheckpointError:
                continue
    return out


def shipped(name: str, folder: Path | str = SHIPPED_DIR) -> Path:
    """Path (without suffix) of the shipped checkpoint ``name``; raises CheckpointError if absent."""
    stem = Path(folder) / name
    if not _paths(stem)[1].exists():
        known = ", ".join(sorted(registry(folder))) or "none"
        raise CheckpointError(f"No shipped checkpoint named {name!r} (shipped: {known}).", stem)
    return stem
