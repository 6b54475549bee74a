"""Precompressed copies of Streamlit's static assets, for nginx to serve (``deploy/nginx.conf``).

Streamlit's frontend (``index.html`` loads ``/static/js/...``, ``/static/css/...``, ``/static/media/...``) lies in
the installed package: the URL path ``/static/<rest>`` is the file ``<streamlit>/static/static/<rest>`` (Streamlit
mounts ``<streamlit>/static`` at ``/``). This makes, once, a folder that nginx serves as its ``root``::

    OUTDIR/static/<rest>         a copy of each file (what a client that asks for no encoding gets)
    OUTDIR/static/<rest>.br      brotli, quality 11 (nginx's brotli_static, for clients that send br)
    OUTDIR/static/<rest>.gz      gzip -9 (nginx's gzip_static, for clients that send gzip only)
    OUTDIR/.precompress.json     what was made from what (the streamlit version, the file list)

Compressed copies only for text formats (JS, CSS, SVG, JSON, TTF...) over 1 KB, and only where they come out
smaller; woff2, png and gif are compressed already. Brotli quality 11 is slow (about 0.5 MB/s per core: the
23 MB of JS and CSS take some 40 s of CPU, spread over the cores) and done once: a second run finds the same
streamlit version and file list in ``.precompress.json`` and returns at once (about a second). Two runs at the same time (two clusters starting) take turns
on a lock; every file is written under a temporary name and renamed into place, so nginx never reads half a file.

    python -m deploy.precompress                 # into .cache/static-<streamlit version>/ (what deploy.cluster uses)
    python -m deploy.precompress /srv/static     # the compose file's one-shot service, into a shared volume

Brotli comes from the ``brotli`` package (requirements.txt), else Debian's ``brotli`` command; with neither,
gzip only (``--no-brotli`` asks for that).
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL_PREFIX = "static"  # /static/<rest> -> OUTDIR/static/<rest>
MANIFEST = ".precompress.json"
MIN_SIZE = 1024  # smaller files: the headers outweigh what compression saves
BROTLI_QUALITY = 11
GZIP_LEVEL = 9
# Compressed already (woff2, png, gif, jpg, webp...) or binary: copied as they are. Everything else listed here is
# text (or a font format without its own compression) and gets .br and .gz copies.
COMPRESSIBLE = {".js", ".mjs", ".css", ".svg", ".json", ".map", ".html", ".txt", ".xml", ".ttf", ".otf", ".eot",
                ".wasm", ".ico"}
SHRINK = 0.95  # keep a compressed copy only if it is at most 95 % of the file


def streamlit_version() -> str:
    import streamlit

    return streamlit.__version__


def source_dir() -> Path:
    """``<streamlit package>/static/static``: what the URL path ``/static/`` serves."""
    import streamlit

    return Path(streamlit.__file__).resolve().parent / "static" / URL_PREFIX


def default_outdir() -> Path:
    return ROOT / ".cache" / f"static-{streamlit_version()}"


def brotli_method() -> str | None:
    """How brotli files are made here: 'python' (the brotli package), 'cli' (Debian's brotli), or None."""
    try:
        import brotli  # noqa: F401

        return "python"
    except ImportError:
        pass
    return "cli" if shutil.which("brotli") else None


def _listing(src: Path) -> dict[str, int]:
    return {p.relative_to(src).as_posix(): p.stat().st_size for p in sorted(src.rglob("*")) if p.is_file()}


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _brotli(data: bytes, method: str) -> bytes:
    if method == "python":
        import brotli

        return brotli.compress(data, quality=BROTLI_QUALITY)
    return subprocess.run(["brotli", "-q", str(BROTLI_QUALITY), "-c"], input=data, capture_output=True,
                          check=True).stdout


def _one(src: str, dest: str, method: str | None) -> tuple[int, int, int]:
    """Copy ``src`` to ``dest`` and, if it is worth it, ``dest.br`` and ``dest.gz``: (raw, br, gz) sizes, 0 = none."""
    raw = Path(src).read_bytes()
    out = Path(dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write(out, raw)
    sizes = [len(raw), 0, 0]
    wanted = len(raw) > MIN_SIZE and out.suffix.lower() in COMPRESSIBLE
    for i, (ext, make) in enumerate(((".br", (lambda d: _brotli(d, method)) if method else None),
                                     (".gz", lambda d: gzip.compress(d, GZIP_LEVEL, mtime=0))), start=1):
        side = out.with_name(out.name + ext)
        packed = make(raw) if wanted and make else None
        if packed is not None and len(packed) <= SHRINK * len(raw):
            _write(side, packed)
            sizes[i] = len(packed)
        else:
            side.unlink(missing_ok=True)
    return tuple(sizes)


def _current(outdir: Path, want: dict) -> bool:
    """Whether ``outdir`` already holds what ``want`` describes (and every copy is there)."""
    try:
        have = json.loads((outdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if (have.get("streamlit"), have.get("files"), have.get("gzip")) != (want["streamlit"], want["files"], want["gzip"]):
        return False
    if want["brotli"] and not have.get("brotli"):
        return False  # made without brotli; brotli is wanted now
    base = outdir / URL_PREFIX
    return all((base / rel).is_file() for rel in want["files"])


def precompress(outdir: str | Path | None = None, *, brotli: bool = True, workers: int | None = None,
                log=print) -> dict:
    """Fill ``outdir`` (default ``.cache/static-<streamlit version>``) as the module's docstring says, unless it is
    current already. ``brotli``: make .br copies (if the brotli package or command is there). Returns the
    manifest plus ``reused`` (nothing to do) and ``seconds``."""
    t0 = time.monotonic()
    outdir = Path(outdir) if outdir else default_outdir()
    outdir.mkdir(parents=True, exist_ok=True)
    src = source_dir()
    method = brotli_method() if brotli else None
    if brotli and method is None:
        log("precompress: neither the brotli package nor the brotli command is installed: gzip only")
    want = {"streamlit": streamlit_version(), "brotli": f"{method} q{BROTLI_QUALITY}" if method else None,
            "gzip": GZIP_LEVEL, "source": str(src), "files": _listing(src)}
    with open(outdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another start may be filling it: wait, then it is probably current
        if _current(outdir, want):
            have = json.loads((outdir / MANIFEST).read_text())
            return {**have, "reused": True, "seconds": time.monotonic() - t0}
        (outdir / MANIFEST).unlink(missing_ok=True)
        log(f"precompress: compressing streamlit {want['streamlit']}'s static files into {outdir} (brotli "
            f"{'q' + str(BROTLI_QUALITY) if method else 'none'}, gzip -{GZIP_LEVEL}); once per streamlit version")
        base = outdir / URL_PREFIX
        jobs = sorted(want["files"], key=lambda rel: -want["files"][rel])  # the largest first: the pool ends together
        workers = workers or os.cpu_count() or 1
        # spawn, not fork: the caller (a test run, the cluster) may have threads of its own
        pool_cm = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
        with pool_cm or contextlib.nullcontext() as pool:
            mapper = pool.map if pool else map
            results = dict(zip(jobs, mapper(_one, [str(src / r) for r in jobs], [str(base / r) for r in jobs],
                                            [method] * len(jobs))))
        keep = set(jobs) | {f"{r}.br" for r in jobs} | {f"{r}.gz" for r in jobs}
        for p in sorted(base.rglob("*"), reverse=True):  # what an earlier version left behind
            rel = p.relative_to(base).as_posix()
            if p.is_file() and rel not in keep:
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        raw = sum(r[0] for r in results.values())
        made = {"br": sum(1 for r in results.values() if r[1]), "gz": sum(1 for r in results.values() if r[2]),
                "raw_bytes": raw, "br_bytes": sum(r[1] or r[0] for r in results.values()),
                "gz_bytes": sum(r[2] or r[0] for r in results.values())}
        manifest = {**want, "made": made}
        _write(outdir / MANIFEST, json.dumps(manifest, indent=1).encode())
    seconds = time.monotonic() - t0
    log(f"precompress: {len(jobs)} files of streamlit {want['streamlit']} into {outdir} in {seconds:.1f} s: "
        f"{made['br']} .br, {made['gz']} .gz; {raw / 1e6:.1f} MB -> {made['br_bytes'] / 1e6:.1f} MB brotli, "
        f"{made['gz_bytes'] / 1e6:.1f} MB gzip")
    return {**manifest, "reused": False, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Precompressed (brotli 11, gzip 9) copies of Streamlit's static assets "
                                             "for nginx.")
    ap.add_argument("outdir", nargs="?", default=None,
                    help="nginx's root: files go to OUTDIR/static/... (default .cache/static-<streamlit version>)")
    ap.add_argument("--no-brotli", action="store_true", help="gzip copies only")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    a = ap.parse_args(argv)
    m = precompress(a.outdir, brotli=not a.no_brotli, workers=a.workers)
    if m["reused"]:
        print(f"precompress: {a.outdir or default_outdir()} is current (streamlit {m['streamlit']}, "
              f"{len(m['files'])} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
