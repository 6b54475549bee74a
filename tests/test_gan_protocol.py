"""core/gan.py on the family protocol (core/training.py): its config base, the shipped checkpoints' JSON."""
import json

import pytest
import torch

from core import checkpoints, gan


def test_config_is_on_the_shared_base_and_refuses_unknown_fields():
    cfg = gan.preset("pacgan2")
    assert isinstance(cfg, gan.Config) and gan.GANConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="valid fields are"):
        gan.GANConfig.from_dict({**cfg.to_dict(), "old_field": 1})


@pytest.mark.parametrize("path", sorted(checkpoints.SHIPPED_DIR.glob("gan_*.json")), ids=lambda p: p.stem)
def test_shipped_json_holds_every_config_field_and_its_hash(path):
    record = json.loads(path.read_text())
    config = gan.GANConfig.from_dict(record["config"])
    assert record["config"] == config.to_dict()
    assert record["config_hash"] == checkpoints.config_hash(config)


@pytest.mark.parametrize("path", sorted(checkpoints.SHIPPED_DIR.glob("gan_*.json")), ids=lambda p: p.stem)
def test_shipped_command_is_the_one_command_line_and_names_the_shipped_config(path):
    import shlex

    from core import __main__ as cli

    record = json.loads(path.read_text())
    argv = shlex.split(record["meta"]["command"])
    assert argv[:5] == ["python", "-m", "core", "train", "gan"]
    parser, fam = cli._parser(argv[3:])
    config = gan.GANConfig.from_arguments(parser.parse_args(argv[3:]))
    assert config == gan.GANConfig.from_dict(record["config"]) and argv[argv.index("--out") + 1] == f"checkpoints/{path.stem}"
    assert all(k == "step" or k in ("seconds", "phase", "diverged") or k.startswith(("train/", "test/"))
               for h in record["meta"]["history"] for k in h)


def test_train_runs_through_the_shared_loop_with_until_and_protocol_keys():
    cfg = gan.GANConfig(g_width=16, d_width=16, steps=30, log_every=10, snapshot_every=10, n_eval=200, n_data=500)
    data = gan.load_data(cfg)
    seen = []
    one = gan.train(cfg, data, callback=lambda s, m: seen.append((s, sorted(m))))
    assert [s for s, _ in seen] == [0, 10, 20, 30] and all(k.startswith(("train/", "test/")) for _, ks in seen for k in ks)
    part = gan.train(cfg, data, until=13)
    assert part.step_ == 13 and gan.train(cfg, data, model=part) is part and part.step_ == 30
    assert all(torch.equal(a, b) for a, b in zip(one.G.state_dict().values(), part.G.state_dict().values()))
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(one.history_) == strip(part.history_)  # chunks log as one run
    assert one.train_seconds_ > 0 and "seconds" in one.history_[-1]


def test_an_image_gan_is_saved_for_sampling_a_2d_one_for_resuming(tmp_path):
    img = gan.GAN(gan.preset("mnist_cgan", g_width=8, d_width=8))
    gan.save(img, tmp_path / "img")
    tensors, _ = checkpoints.load(tmp_path / "img")
    assert "rng_state" not in tensors and not any(k.startswith(("opt_", "snap.")) for k in tensors)
    pts = gan.GAN(gan.GANConfig(g_width=8, d_width=8))
    gan.save(pts, tmp_path / "pts")
    assert "rng_state" in checkpoints.load(tmp_path / "pts")[0]
