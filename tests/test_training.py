"""The family protocol's shared pieces: the config base, the one training loop, the registry and the CLI."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import numpy as np
import pytest

from core import families, training
from core.training import Config, TrainingDiverged


@dataclass(frozen=True)
class ToyConfig(Config):
    lr: float = 0.1
    hidden: tuple[int, ...] = (4, 4)
    kind: str = "a"
    ema: bool = False
    steps: int = 20

    def __post_init__(self):
        training.check_choice("kind", self.kind, ("a", "b"))


def test_config_round_trips_and_refuses_unknown_fields_by_name():
    c = ToyConfig(lr=0.5, hidden=(8,))
    d = c.to_dict()
    assert d == {"lr": 0.5, "hidden": [8], "kind": "a", "ema": False, "steps": 20}
    assert json.loads(json.dumps(d)) == d
    assert ToyConfig.from_dict({**d, "hidden": (8,)}) == c and c.replace(kind="b").kind == "b"
    with pytest.raises(ValueError, match=r"Unknown ToyConfig fields \['lr_d'\]; valid fields are"):
        ToyConfig.from_dict({"lr_d": 1})
    with pytest.raises(ValueError, match=r"valid choices are \['a', 'b'\]"):
        ToyConfig(kind="c")


def test_arguments_are_made_from_the_fields_with_a_preset_as_defaults():
    p = argparse.ArgumentParser()
    ToyConfig.add_arguments(p)
    assert ToyConfig.from_arguments(p.parse_args([])) == ToyConfig()
    got = ToyConfig.from_arguments(p.parse_args(["--lr", "0.01", "--hidden", "3", "5", "--ema", "true"]))
    assert got == ToyConfig(lr=0.01, hidden=(3, 5), ema=True)
    p = argparse.ArgumentParser()
    ToyConfig.add_arguments(p, base=ToyConfig(steps=7, kind="b"))
    assert ToyConfig.from_arguments(p.parse_args(["--lr", "1"])) == ToyConfig(lr=1.0, steps=7, kind="b")
    with pytest.raises(SystemExit):
        p.parse_args(["--ema", "maybe"])


def test_batches_cover_each_epoch_once_and_depend_only_on_seed_and_step():
    idx = np.concatenate([training.batch_index(10, 3, 0, s) for s in range(3)])
    assert len(set(idx.tolist())) == 9  # drop-last: one epoch is 3 batches of 3 distinct rows
    assert np.array_equal(training.batch_index(10, 3, 0, 4), training.batch_index(10, 3, 0, 4))
    assert not np.array_equal(training.batch_index(100, 10, 0, 0), training.batch_index(100, 10, 1, 0))
    a = training.step_generator(0, 5, "cpu")
    b = training.step_generator(0, 5, "cpu")
    import torch
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))


class Quadratic:
    """Gradient descent on (w - 3)^2, with the attributes the loop keeps."""

    def __init__(self):
        self.w, self.step_, self.history_, self.train_seconds_ = 0.0, 0, [], 0.0

    def step(self, s):
        loss = (self.w - 3.0) ** 2
        self.w -= 0.1 * 2 * (self.w - 3.0)
        return {"loss": loss, "w": self.w}


def test_loop_averages_windows_evaluates_and_resumes_where_it_stopped():
    m, seen = Quadratic(), []
    stopped = training.loop(m, m.step, end=10, log_every=2, eval_every=5, evaluate=lambda: {"loss": (m.w - 3) ** 2},
                            callback=lambda s, met: seen.append((s, met)))
    assert not stopped and m.step_ == 10
    assert [s for s, _ in seen] == [2, 4, 5, 6, 8, 10]
    assert set(seen[2][1]) == {"train/loss", "train/w", "test/loss"} and [h["step"] for h in m.history_] == [5, 10]
    assert seen[-1][1]["test/loss"] < seen[0][1]["train/loss"]  # training lowered the loss
    # one long run equals two chunks
    a, b = Quadratic(), Quadratic()
    training.loop(a, a.step, end=10, log_every=3, eval_every=5)
    training.loop(b, b.step, end=4, log_every=3, eval_every=5)
    training.loop(b, b.step, end=10, log_every=3, eval_every=5)
    assert a.w == b.w and a.step_ == b.step_ == 10


def test_the_callback_stops_the_loop_and_nan_raises_with_the_step():
    m = Quadratic()
    assert training.loop(m, m.step, end=100, log_every=1, eval_every=50, callback=lambda s, met: s == 3)
    assert m.step_ == 3
    with pytest.raises(TrainingDiverged, match="at step 3: the loss became nan") as e:
        training.loop(m, lambda s: {"loss": float("nan")}, end=10, log_every=1, eval_every=5)
    assert e.value.step == 3 and e.value.model is m and m.step_ == 3


def test_registry_names_every_family_and_its_config_class():
    assert set(families.FAMILIES) == {"gan", "vae", "flow", "diffusion", "guided", "text_to_image"}
    for fam in families.FAMILIES.values():
        assert fam.likelihood in families.LIKELIHOODS
        cls = fam.config_class()
        assert cls.__dataclass_params__.frozen, fam.name
    with pytest.raises(ValueError, match="valid choices are"):
        families.get("bayes")


def test_cli_lists_a_family_config_fields_as_flags(capsys):
    from core.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "vae", "--help"])
    out = capsys.readouterr().out
    assert "--latent-dim" in out and "--beta" in out and "--out" in out
    with pytest.raises(SystemExit):
        main(["train", "nope", "--out", "x"])


def _recorded_commands():
    """(checkpoint JSON, its recorded config, the command) of every shipped model made by the one command line."""
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "checkpoints"
    found = []
    for path in sorted(root.rglob("*.json")):
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            continue
        meta = record.get("meta", record)
        for key, config in (("command", record.get("config")), ("vae_command", meta.get("vae_config")),
                            ("decoder_command", meta.get("decoder_config"))):
            command = meta.get(key)
            if isinstance(command, str) and command.startswith("python -m core train "):
                found.append(pytest.param(shlex.split(command)[3:], config, id=f"{path.relative_to(root)}:{key}"))
    return found


@pytest.mark.parametrize("argv, recorded", _recorded_commands())
def test_every_shipped_command_is_the_one_command_line_and_names_its_config(argv, recorded):
    from core.__main__ import _parser

    parser, target = _parser(argv)
    assert target is not None, f"{argv[1]} is neither a family nor an auxiliary model"
    config = training.from_arguments(target[0], parser.parse_args(argv))
    if recorded is not None:  # the fields the checkpoint recorded (one made before a field existed lacks it)
        made = {k: v for k, v in config.to_dict().items() if k in recorded}
        assert made == json.loads(json.dumps(recorded)), argv


#: one shipped model of each family (checkpoints/)
SHIPPED_EXAMPLE = {"gan": "gan_ring8", "vae": "vae_mnist_z2_beta1", "flow": "flow_moons", "diffusion": "diffusion_moons",
                   "guided": "guided_mnist16", "text_to_image": "t2i_shapes"}


@pytest.mark.parametrize("name", sorted(families.FAMILIES))
def test_every_family_module_follows_the_protocol(name):
    """One shape: a config on the base, train with the same keywords, save/load/load_shipped, the likelihood the
    registry declares."""
    import inspect

    fam = families.get(name)
    module = fam.load()
    assert issubclass(fam.config_class(), Config) and fam.config_class().__dataclass_params__.frozen
    params = inspect.signature(module.train).parameters
    assert list(params)[:3] == ["config", "data", "callback"]
    assert params["data"].default is None and params["callback"].default is None
    for kw in ("model", "until", "device"):
        assert params[kw].kind is inspect.Parameter.KEYWORD_ONLY and params[kw].default is None, kw
    assert "steps" not in params  # resume is until=, in every family
    for fn in ("save", "load", "load_shipped"):
        assert callable(getattr(module, fn, None)), fn
    assert module.LIKELIHOOD == fam.likelihood
    model = module.load_shipped(SHIPPED_EXAMPLE[name], device="cpu")
    assert callable(model.sample) and (fam.likelihood == "none" or callable(model.log_prob))
