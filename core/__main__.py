"""The one command line that trains every model GenLab ships and saves it (safetensors + JSON).

    python -m core train <family> [--preset NAME] --out PATH --<config field> VALUE ...
    python -m core train <auxiliary model> --out PATH --<config field> VALUE ...
    python -m core guided-table --out PATH [--per-class N --steps N --sampler ddim --seed S --scales 0 1 3]
    python -m core compare --data moons --budget 10 --out PATH
    python -m core info PATH

The families are core/families.py's; the auxiliary models are the pieces a family's shipped model is built on
(the latent autoencoders, the noisy classifier, the evaluator), listed by their modules' ``AUXILIARY``. The flags
are made from the config dataclass (core/training.py: ``add_arguments``), so they are exactly its fields; the
checkpoint's JSON records the command that made it (with the threads, the device and torch's version), which is
how every shipped checkpoint says how to reproduce it. ``--device cpu`` (the default) and ``--threads 1``
reproduce the shipped weights bit for bit.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from core import families, training


def _report(step: int, metrics: dict) -> None:
    numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    print(f"step {step:7d}  " + "  ".join(f"{k} {v:.4g}" for k, v in numbers.items()), flush=True)


def _target(argv: list[str]):
    """(config class, trainer, saver, presets, extra meta) of what ``train <name>`` names, or None. The family's
    ``checkpoint_meta(model)``, if it has one, gives numbers the checkpoint records besides its history."""
    if len(argv) < 2 or argv[0] != "train":
        return None
    name = argv[1]
    if name in families.FAMILIES:
        fam = families.get(name)
        module = fam.load()
        presets = getattr(module, fam.presets, {}) if fam.presets else {}
        return fam.config_class(), module.train, module.save, presets, getattr(module, "checkpoint_meta", None)
    if name in families.AUXILIARY:
        import importlib

        config_class, fit, save = importlib.import_module(families.AUXILIARY[name]).AUXILIARY[name]
        return config_class, fit, save, {}, None
    return None


def _parser(argv: list[str]) -> tuple[argparse.ArgumentParser, tuple | None]:
    p = argparse.ArgumentParser(prog="python -m core", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a model and save it")
    t.add_argument("name", choices=sorted(families.FAMILIES) + sorted(families.AUXILIARY))
    table = sub.add_parser("guided-table", help="measure the guided page's fidelity/diversity table")
    table.add_argument("--out", required=True)
    table.add_argument("--per-class", type=int, default=None)
    table.add_argument("--steps", type=int, default=None)
    table.add_argument("--sampler", default="ddim")
    table.add_argument("--seed", type=int, default=0)
    table.add_argument("--scales", type=float, nargs="+", default=None)
    cmp = sub.add_parser("compare", help="train the four families on one data set, print and save the table")
    cmp.add_argument("--out", default="", help="write the result as JSON here (e.g. checkpoints/compare_moons.json)")
    cmp.add_argument("--device", default="cpu")
    if argv[:1] == ["compare"]:
        from core.compare import CompareConfig

        training.add_arguments(CompareConfig, cmp)
    info = sub.add_parser("info", help="print a checkpoint's family, config and final metrics")
    info.add_argument("path")
    for q in (t, table):
        q.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the shipped ones were made so)")
        q.add_argument("--device", default="cpu", help="cpu (default: reproduces the shipped weights), cuda or mps")
    target = _target(argv)
    if target is not None:
        config_class, _, _, presets, _ = target
        base = None
        if presets:
            t.add_argument("--preset", choices=sorted(presets), help="the named config the other flags change")
            chosen = argparse.ArgumentParser(add_help=False)
            chosen.add_argument("--preset")
            name = chosen.parse_known_args(argv)[0].preset
            if name in presets:
                base = presets[name][0] if isinstance(presets[name], tuple) else presets[name]
        t.add_argument("--out", required=True, help="checkpoint path without suffix, e.g. checkpoints/my_model")
        training.add_arguments(config_class, t, base)
    return p, target


def _meta(argv: list[str], args, seconds: float) -> dict:
    import torch

    return {"command": "python -m core " + " ".join(shlex.quote(a) for a in argv), "threads": args.threads,
            "device": args.device, "torch": torch.__version__, "wall_seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, target = _parser(argv)
    args = parser.parse_args(argv)
    if args.cmd == "info":
        from core import checkpoints

        record = checkpoints.read_record(args.path)
        print(record.get("family"), record.get("config"))
        print({k: v for k, v in record.get("meta", {}).items() if k not in ("history", "snapshots", "snapshot_metrics")})
        return 0
    if args.cmd == "compare":
        from core import compare

        try:
            config = training.from_arguments(compare.CompareConfig, args)
        except (TypeError, ValueError) as e:
            parser.error(str(e))
        compare.run(config, args.out, "python -m core " + " ".join(shlex.quote(a) for a in argv), args.device)
        return 0
    from core import runtime

    runtime.set_threads(args.threads)
    t0 = time.perf_counter()
    if args.cmd == "guided-table":
        from core import guided

        kw = {k: v for k, v in (("per_class", args.per_class), ("steps", args.steps), ("scales", args.scales))
              if v is not None}
        table = guided.make_table(sampler=args.sampler, seed=args.seed, device=args.device, **kw)
        path = guided.write_table({**table, **_meta(argv, args, time.perf_counter() - t0)}, args.out)
        print(f"wrote {path}")
        return 0
    config_class, fit, save, _, extra = target
    try:
        config = training.from_arguments(config_class, args)
    except (TypeError, ValueError) as e:
        parser.error(str(e))
    model = fit(config, callback=_report, device=args.device)
    meta = _meta(argv, args, time.perf_counter() - t0)
    history = getattr(model, "history_", None) or [{}]
    meta.update({k: v for k, v in history[-1].items() if k.startswith("test/") and isinstance(v, int | float)})
    meta.update(extra(model) if extra else {})
    path = save(model, args.out, meta=meta)
    print(f"saved {path} after {meta['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
