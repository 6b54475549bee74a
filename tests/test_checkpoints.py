import json
from dataclasses import dataclass

import pytest
import torch

from core import checkpoints as ck


@dataclass(frozen=True)
class Cfg:
    width: int = 8
    lr: float = 1e-3
    layers: tuple = (1, 2)


def _tensors():
    g = torch.Generator().manual_seed(0)
    return {"w": torch.randn(4, 3, generator=g), "b": torch.randn(3, generator=g).half(), "n": torch.arange(5)}


def test_round_trip_is_bit_identical(tmp_path):
    t = _tensors()
    ck.save(tmp_path / "m", t, Cfg(), family="test", meta={"command": "python -m x"})
    loaded, record = ck.load(tmp_path / "m")
    assert set(loaded) == set(t)
    for k in t:
        assert loaded[k].dtype == t[k].dtype and torch.equal(loaded[k], t[k])
    assert record["config"] == {"width": 8, "lr": 1e-3, "layers": [1, 2]}
    assert record["family"] == "test" and record["meta"]["command"] == "python -m x"
    assert record["config_hash"] == ck.config_hash(Cfg())


def test_config_hash_is_stable_and_sensitive():
    assert ck.config_hash(Cfg()) == ck.config_hash({"lr": 1e-3, "layers": [1, 2], "width": 8})
    assert ck.config_hash(Cfg()) != ck.config_hash(Cfg(width=9))
    assert len(ck.config_hash(Cfg())) == 12


def test_corrupt_weights_give_a_clear_error(tmp_path):
    path = ck.save(tmp_path / "m", _tensors(), Cfg(), family="test")
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # flip bits inside the tensor data
    path.write_bytes(bytes(raw))
    with pytest.raises(ck.CheckpointError, match="corrupt"):
        ck.load(tmp_path / "m")


def test_truncated_or_missing_files_give_clear_errors(tmp_path):
    path = ck.save(tmp_path / "m", _tensors(), Cfg(), family="test")
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ck.CheckpointError, match="corrupt"):
        ck.load(tmp_path / "m")
    with pytest.raises(ck.CheckpointError, match="missing"):
        ck.load(tmp_path / "nothing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ck.CheckpointError, match="not valid JSON"):
        ck.load(tmp_path / "bad")


def test_registry_lists_only_complete_checkpoints(tmp_path):
    ck.save(tmp_path / "a", _tensors(), Cfg(), family="test", meta={"command": "cmd a"})
    (tmp_path / "orphan.json").write_text(json.dumps({"family": "x"}))
    reg = ck.registry(tmp_path)
    assert list(reg) == ["a"] and reg["a"]["meta"]["command"] == "cmd a"
    assert ck.shipped("a", tmp_path) == tmp_path / "a"
    with pytest.raises(ck.CheckpointError, match="No shipped checkpoint"):
        ck.shipped("zzz", tmp_path)


def test_every_shipped_checkpoint_loads_and_names_its_command():
    for name, record in ck.registry().items():
        assert record["meta"].get("command", "").startswith("python -m "), name
        tensors, _ = ck.load(ck.shipped(name))
        assert tensors, name
