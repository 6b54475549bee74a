"""``python -m core train <family> [--preset NAME] --out PATH --<config field> VALUE ...``: the one command line
that trains every family and saves a checkpoint (safetensors + JSON); ``python -m core info PATH`` prints one.

The flags are made from the family's config dataclass (core/training.py: ``Config.add_arguments``), so they are
exactly the config's fields; the checkpoint's JSON records the command that made it, which is how every shipped
checkpoint says how to reproduce it.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from core import families, training


def _report(step: int, metrics: dict) -> None:
    if any(k.startswith("test/") for k in metrics):
        print(f"step {step:7d}  " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                                               if isinstance(v, int | float)), flush=True)


def _parser(argv: list[str]) -> tuple[argparse.ArgumentParser, families.Family | None]:
    p = argparse.ArgumentParser(prog="python -m core", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a model of one family and save it")
    t.add_argument("family", choices=sorted(families.FAMILIES))
    info = sub.add_parser("info", help="print a checkpoint's family, config and final metrics")
    info.add_argument("path")
    if len(argv) < 2 or argv[0] != "train" or argv[1] not in families.FAMILIES:
        return p, None  # parse_args says what is wrong
    fam = families.get(argv[1])
    module = fam.load()
    presets = getattr(module, fam.presets, {}) if fam.presets else {}
    base = None
    if presets:
        t.add_argument("--preset", choices=sorted(presets), help="the named config the other flags change")
        chosen = argparse.ArgumentParser(add_help=False)
        chosen.add_argument("--preset")
        name = chosen.parse_known_args(argv)[0].preset
        if name in presets:
            base = presets[name][0] if isinstance(presets[name], tuple) else presets[name]
    t.add_argument("--out", required=True, help="checkpoint path without suffix, e.g. checkpoints/my_model")
    t.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the shipped ones were made so)")
    training.add_arguments(fam.config_class(), t, base)
    return p, fam


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, fam = _parser(argv)
    args = parser.parse_args(argv)
    if args.cmd == "info":
        from core import checkpoints

        record = checkpoints.read_record(args.path)
        print(record.get("family"), record.get("config"))
        print({k: v for k, v in record.get("meta", {}).items() if k not in ("history", "snapshots")})
        return 0
    from core import runtime

    runtime.set_threads(args.threads)
    module = fam.load()
    try:
        config = training.from_arguments(fam.config_class(), args)
    except (TypeError, ValueError) as e:
        parser.error(str(e))
    t0 = time.perf_counter()
    model = module.train(config, callback=_report)
    seconds = time.perf_counter() - t0
    command = "python -m core " + " ".join(shlex.quote(a) for a in argv)
    path = module.save(model, args.out, meta={"command": command, "wall_seconds": round(seconds, 1)})
    print(f"saved {path} after {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
