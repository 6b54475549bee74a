"""The registry of GenLab's model families: the compare page, the command line and the bench read it.

Each family's module follows one protocol (DESIGN.md, "One shape for every model family"; core/training.py):

- ``<Config>``: a frozen dataclass on :class:`core.training.Config` (every hyperparameter and the seed);
- ``load_data(config)``: the data the config names;
- ``train(config, data=None, callback=None, *, model=None, until=None, device=None) -> model`` through
  :func:`core.training.loop` (metric keys ``train/...`` and ``test/...``; the callback may stop it);
- ``model.sample(n, seed=0, **kw) -> np.ndarray`` and, where the family has one, ``model.log_prob(x) ->
  np.ndarray``: exact (flow), a bound (VAE's ELBO, diffusion's variational bound) or none (GAN), as the entry
  below declares; a page says which, and never shows a number the family does not have;
- ``save(model, path, meta=None)``, ``load(path) -> model``, ``load_shipped(name) -> model`` (safetensors + JSON).

Naive Bayes vs logistic regression (``core/bayes.py``) is not here: it keeps scikit-learn's estimator shape
(``fit``/``predict_proba``; ``GaussianNB`` and ``LogisticRegression`` themselves), which is the lesson.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

LIKELIHOODS = ("exact", "bound", "none")


@dataclass(frozen=True)
class Family:
    name: str          # the command line's and the compare page's word
    title: str         # what a page calls it
    module: str        # the module that follows the protocol
    config: str        # its config class
    likelihood: str    # what ``log_prob`` is: "exact", "bound" or "none"
    presets: str = ""  # the module's dict of named configs, if it has one (the command line's --preset)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def config_class(self) -> type:
        return getattr(self.load(), self.config)


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("gan", "GAN", "core.gan", "GANConfig", "none", presets="PRESETS"),
    Family("vae", "VAE", "core.vae", "VAEConfig", "bound"),
    Family("flow", "Normalizing flow", "core.flow", "FlowConfig", "exact"),
    Family("diffusion", "Diffusion (DDPM)", "core.diffusion", "DiffusionConfig", "bound"),
    Family("guided", "Guided diffusion", "core.guided", "GuidedConfig", "none"),
    Family("text_to_image", "Text-to-image (latent diffusion)", "core.text_to_image", "T2IConfig", "none"),
)}


#: The models a family's shipped model is built on, trained apart (not families: no page samples them alone):
#: command name -> the module whose ``AUXILIARY[name]`` is (config class, trainer, saver).
AUXILIARY: dict[str, str] = {
    "diffusion-autoencoder": "core.diffusion",
    "guided-classifier": "core.guided",
    "guided-evaluator": "core.guided",
    "text_to_image-autoencoder": "core.text_to_image",
}


def get(name: str) -> Family:
    """The family called ``name``; a ValueError lists the valid names."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"Unknown family {name!r}; valid choices are {sorted(FAMILIES)}.") from None
