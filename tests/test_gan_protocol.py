"""core/gan.py on the family protocol (core/training.py): its config base, the shipped checkpoints' JSON."""
import json

import pytest

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
