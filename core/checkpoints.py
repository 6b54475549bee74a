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
import os
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


def _label(path: Path | str | None) -> str:
    """The checkpoint's name for a message: ``gan_ring8``, not the server's folders."""
    if path is None:
        return "checkpoint"
    p = Path(path)
    return p.stem if p.suffix in (".safetensors", ".json") else p.name


def read_record(path: Path | str) -> dict:
    """Read and check a checkpoint's JSON record (no weights): a JSON object whose ``config`` (and ``meta``)
    are objects. Anything else (a missing or unreadable file, invalid JSON, a list, ``"config": "garbage"``)
    raises :class:`CheckpointError` saying which file and why."""
    _, cfg = _paths(path)
    if not cfg.exists():
        raise CheckpointError(f"Checkpoint config {cfg.name} is missing (looked in {cfg.parent}).", cfg)
    if not cfg.is_file():
        raise CheckpointError(f"Checkpoint config {cfg.name} is not a file.", cfg)
    try:
        record = json.loads(cfg.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"Checkpoint config {cfg.name} is not valid JSON: {e}", cfg) from e
    except (OSError, RecursionError) as e:
        raise CheckpointError(f"Checkpoint config {cfg.name} could not be read: {e}", cfg) from e
    if not isinstance(record, dict):
        raise CheckpointError(f"Checkpoint config {cfg.name} holds a JSON {_json_type(record)} where an object "
                              '{"family", "config", "weights_sha256", ...} belongs.', cfg)
    missing = {"family", "config", "weights_sha256"} - set(record)
    if missing:
        raise CheckpointError(f"Checkpoint config {cfg.name} lacks the fields {sorted(missing)}.", cfg)
    for key, kind in (("family", str), ("weights_sha256", str), ("config", dict), ("meta", dict)):
        if key in record and not isinstance(record[key], kind):
            want = "an object" if kind is dict else "a string"
            raise CheckpointError(f"Checkpoint config {cfg.name}: its {key!r} is a JSON {_json_type(record[key])}, "
                                  f"not {want}.", cfg)
    return record


def _json_type(value) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__)


def load(path: Path | str, device: str = "cpu", family: str | None = None) -> tuple[dict, dict]:
    """Load a checkpoint and return ``(tensors, record)``.

    Raises :class:`CheckpointError` with a clear message when either file is missing, the record is not what
    :func:`read_record` expects (or, given ``family``, is another family's), the weights do not match the hash
    recorded at save time, or safetensors cannot parse them. What the tensors must be is checked by
    :func:`load_weights` against the model the config builds.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, _ = _paths(path)
    record = read_record(path)
    if family is not None and record["family"] != family:
        raise CheckpointError(f"Checkpoint {_label(path)} holds a {record['family']!r} model, not a {family!r} one.",
                              path)
    if not weights.is_file():
        raise CheckpointError(f"Checkpoint weights {weights.name} are missing (looked in {weights.parent}).", weights)
    try:
        digest = _sha256(weights)
    except OSError as e:
        raise CheckpointError(f"Checkpoint weights {weights.name} could not be read: {e}", weights) from e
    if digest != record["weights_sha256"]:
        raise CheckpointError(
            f"Checkpoint weights {weights.name} are corrupt: their sha256 differs from the one saved with them.",
            weights,
        )
    try:
        tensors = load_file(str(weights), device=device)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:  # a file forged with a matching hash
        raise CheckpointError(f"Checkpoint weights {weights.name} could not be read: {e}", weights) from e
    return tensors, record


def config_from(record: dict, make, path: Path | str | None = None):
    """``make(record["config"])`` (a config class's ``from_dict`` or constructor); a config that does not build
    one (unknown or missing fields, values of the wrong type or out of range) is a :class:`CheckpointError`."""
    cfg = record.get("config") if isinstance(record, dict) else None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"Checkpoint {_label(path)} has no config object (found a JSON {_json_type(cfg)}).", path)
    try:
        return make(cfg)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        raise CheckpointError(f"Checkpoint {_label(path)} has an unusable config: {e}", path) from e


def _names(keys, n: int = 4) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def check_tensors(tensors: dict, expected: dict, path: Path | str | None = None, what: str = "the model",
                  strict: bool = True, prefix: str = "") -> None:
    """Check the checkpoint's ``tensors`` against ``expected`` (name -> shape, e.g. from a freshly built model's
    ``state_dict()``): every expected tensor present with its shape, and with ``strict`` none left over.
    A mismatch (a tensor missing, a width changed in the JSON, a forged file) is a :class:`CheckpointError` that
    names the tensors; ``prefix`` is how the names appear in the file."""
    missing = [prefix + k for k in expected if k not in tensors]
    wrong = [(prefix + k, list(_shape(tensors[k])), list(_shape(shape))) for k, shape in expected.items()
             if k in tensors and _shape(tensors[k]) != _shape(shape)]
    extra = [prefix + k for k in tensors if k not in expected] if strict else []
    if not (missing or wrong or extra):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensor{'s' * (len(missing) > 1)} missing ({_names(missing)})")
    if wrong:
        parts.append("wrong shapes (" + "; ".join(f"{k} is {got}, the config needs {need}" for k, got, need in wrong[:2])
                     + (f"; and {len(wrong) - 2} more" if len(wrong) > 2 else "") + ")")
    if extra:
        parts.append(f"{len(extra)} tensor{'s' * (len(extra) > 1)} the config has no place for ({_names(extra)})")
    raise CheckpointError(f"Checkpoint {_label(path)} does not fit its config ({what}): " + "; ".join(parts) + ".",
                          path)


def _shape(t) -> tuple:
    """A tensor's shape, or a shape given as such, as a tuple of ints."""
    return tuple(int(d) for d in (t.shape if hasattr(t, "shape") else t))


def safetensors_shapes(path: Path | str) -> dict[str, tuple]:
    """Name -> shape of every tensor in a safetensors file, read from its header (no tensor data is read);
    an unreadable file is a :class:`CheckpointError`."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"Weights file {Path(path).name} could not be read: {e}", path) from e


def verify_files(folder: Path | str, sha256: dict, label: str | None = None) -> None:
    """Check a checkpoint folder against its manifest ``{relative path: sha256}`` (as :func:`file_manifest`
    writes it): every file present and unchanged. A missing or changed file is a :class:`CheckpointError`."""
    folder = Path(folder)
    label = label or folder.name
    if not isinstance(sha256, dict):
        raise CheckpointError(f"The file list of {label} is not an object of file names and sha256 hashes.", folder)
    for rel, digest in sha256.items():
        f = folder / str(rel)
        if Path(str(rel)).is_absolute() or ".." in Path(str(rel)).parts:
            raise CheckpointError(f"The file list of {label} names a file outside the folder ({rel!r}).", folder)
        if not f.is_file():
            raise CheckpointError(f"{label} is incomplete: {rel} is missing.", f)
        try:
            ok = _sha256(f) == digest
        except OSError as e:
            raise CheckpointError(f"{label}: {rel} could not be read: {e}", f) from e
        if not ok:
            raise CheckpointError(f"{label}: {rel} is corrupt (its sha256 differs from the one saved with it).", f)


def file_manifest(folder: Path | str, skip: tuple = ()) -> dict[str, str]:
    """``{relative path: sha256}`` of every file in ``folder`` (for :func:`verify_files`), ``skip`` left out."""
    folder = Path(folder)
    return {f.relative_to(folder).as_posix(): _sha256(f) for f in sorted(folder.rglob("*"))
            if f.is_file() and f.relative_to(folder).as_posix() not in skip}


def _inside(path: Path, roots) -> bool:
    return any(path == root or root in path.parents for root in roots)


def user_folder(name: str, roots, what: str = "models", hint: str = "", error: type = None,
                max_entries: int = 5000) -> Path:
    """The real location of a folder a visitor named (a field, a link), checked before anything in it is read.

    - a name with control characters (a NUL byte, a line break) or one the OS cannot take is refused in words;
    - ``~`` is expanded and every symlink resolved (``os.path.realpath``), then the folder must lie inside one
      of ``roots`` (resolved the same way), so neither ``/etc``, ``../..`` nor a symlink placed inside a root
      that points out of it gets through. Outside the roots the answer is the same whether the path exists or
      not, so the check cannot be used to probe the server's disk;
    - inside, it must exist and be a folder, and no link in it may lead out of the roots (a model folder of
      symlinks into the Hugging Face cache's blobs is fine); more than ``max_entries`` entries are refused.

    Returns the resolved path, to be used from then on (not the name, which a swapped symlink could redirect).
    Failures raise ``error`` (default :class:`CheckpointError`) with ``hint`` appended.
    """
    error = error or CheckpointError
    text = str(name)
    tail = f" {hint}" if hint else ""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise error("The folder name contains control characters (a NUL byte or a line break, for instance): type "
                    f"a plain folder path.{tail}")
    try:
        real = Path(os.path.realpath(os.path.expanduser(text)))
        allowed = [Path(os.path.realpath(os.path.expanduser(str(r)))) for r in roots]
    except (ValueError, OSError, RuntimeError) as e:
        raise error(f"{text!r} is not a usable folder path ({e}).{tail}") from e
    if not _inside(real, allowed):
        raise error(f"{text!r} is not inside a folder this server allows {what} from.{tail}")
    if not real.exists():
        raise error(f"Could not load {text!r}: there is no such folder on this server.{tail}")
    if not real.is_dir():
        raise error(f"Could not load {text!r}: it is a file, not a folder.{tail}")
    n = 0
    for top, dirs, files in os.walk(real, followlinks=False):
        for entry in dirs + files:
            n += 1
            if n > max_entries:
                raise error(f"{text!r} holds more than {max_entries:,} files and folders: not a model folder.{tail}")
            p = Path(top) / entry
            if p.is_symlink() and not _inside(Path(os.path.realpath(p)), allowed):
                raise error(f"{text!r} holds a link that leads out of the allowed folders "
                            f"({p.relative_to(real).as_posix()}).{tail}")
    return real


def load_weights(module, tensors: dict, path: Path | str | None = None, prefix: str = "", what: str | None = None):
    """Load the tensors named ``prefix + key`` into ``module`` (a torch module built from the checkpoint's config):
    checked first with :func:`check_tensors` (all present, right shapes, none extra), then
    ``load_state_dict(strict=True)``. Every failure is a :class:`CheckpointError`. Returns ``module``."""
    own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    what = what or type(module).__name__
    check_tensors(own, {k: v.shape for k, v in module.state_dict().items()}, path, what, prefix=prefix)
    try:
        module.load_state_dict(own, strict=True)
    except (RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"Checkpoint {_label(path)} does not fit its config ({what}): {e}", path) from e
    return module


def registry(folder: Path | str | None = None) -> dict[str, dict]:
    """The shipped checkpoints: ``{name: record}`` for every ``*.json`` beside a ``*.safetensors``
    (``folder`` defaults to :data:`SHIPPED_DIR`, read at call time so tests can point it at a copy).

    Each record's ``meta["command"]`` is the exact CLI command that reproduces it.
    """
    folder = Path(SHIPPED_DIR if folder is None else folder)
    out = {}
    for cfg in sorted(folder.glob("*.json")):
        if cfg.with_suffix(".safetensors").exists():
            try:
                out[cfg.stem] = read_record(cfg)
            except CheckpointError:
                continue
    return out


def shipped(name: str, folder: Path | str | None = None) -> Path:
    """Path (without suffix) of the shipped checkpoint ``name`` in ``folder`` (default :data:`SHIPPED_DIR`, read at
    call time); raises CheckpointError if absent."""
    folder = SHIPPED_DIR if folder is None else folder
    stem = Path(folder) / name
    if not _paths(stem)[1].exists():
        known = ", ".join(sorted(registry(folder))) or "none"
        raise CheckpointError(f"No shipped checkpoint named {name!r} (shipped: {known}).", stem)
    return stem
