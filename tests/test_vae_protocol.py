"""The VAE follows the family protocol (core/training.py, core/families.py): its config on the shared base, its
command line made from the config's fields, keyword-only training options, and a declared likelihood."""
import argparse

import pytest

from core import families, training, vae


def test_config_is_on_the_shared_base():
    cfg = vae.VAEConfig(beta=0.5, hidden=(64, 32), model="dae")
    assert isinstance(cfg, training.Config) and cfg.replace(beta=1.0).beta == 1.0
    assert cfg.to_dict()["hidden"] == [64, 32] and vae.VAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="valid fields are"):
        vae.VAEConfig.from_dict({"betta": 1.0})


def test_command_line_flags_are_the_configs_fields():
    p = argparse.ArgumentParser()
    vae.VAEConfig.add_arguments(p)
    assert vae.VAEConfig.from_arguments(p.parse_args([])) == vae.VAEConfig()
    args = p.parse_args(["--beta", "0.5", "--hidden", "64", "32", "--model", "dae", "--latent-dim", "3"])
    assert vae.VAEConfig.from_arguments(args) == vae.VAEConfig(beta=0.5, hidden=(64, 32), model="dae", latent_dim=3)


def test_train_options_are_keywords_and_the_likelihood_is_declared():
    with pytest.raises(TypeError):
        vae.train(vae.VAEConfig(), None, None, None)  # model=, until=, device= are keyword-only
    assert vae.LIKELIHOOD == families.get("vae").likelihood == "bound"
