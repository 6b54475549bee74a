"""The current view as a small runnable Python script that calls core and reproduces it: pure text.

Every page offers its view this way ("Reproduce in Python", see ``ui.reproduce``), so a student can
take exactly what they see into a notebook. Configs are frozen dataclasses whose ``repr`` is valid
Python, so a snippet carries every hyperparameter and the seed. tests/test_snippets.py runs them.
"""
from __future__ import annotations


def _script(*lines: str) -> str:
    return "\n".join(lines).strip() + "\n"


def bayes(cfg) -> str:
    return _script(
        "# Discriminative vs generative: naive Bayes and logistic regression on the same split",
        "from core import bayes",
        "from core.bayes import BayesConfig",
        "",
        f"cfg = {cfg!r}",
        "X, y, class_names = bayes.make_dataset(cfg)",
        "res = bayes.fit_pair(X, y, test_size=cfg.test_size, seed=cfg.seed)",
        "print(res.scores)                                  # accuracy and log-loss of both models",
        "X_new, y_new = bayes.sample_joint(res.nb, 60, seed=cfg.seed + 1)  # new data from NB's joint",
    )


def _points(points) -> str:
    import numpy as np

    return "np.array(" + repr(np.round(np.asarray(points, float), 3).tolist()) + ", dtype=np.float32)"


def flow(cfg, data: str, shipped: str | None, n_samples: int, seed: int, points=None) -> str:
    load = ([f"model = flow.load_shipped({shipped!r})  # the shipped checkpoint shown"]
            if shipped else [f"cfg = {cfg!r}", "model = flow.train(cfg, (X_train, X_test))"])
    data_lines = ([f"X_train, X_test = flow.make_data({data!r})"] if points is None else
                  ["import numpy as np", f"X = {_points(points)}  # your points",
                   f"X_train, X_test = flow.split_points(X, seed={seed})"])
    return _script(
        "# Normalizing flow: exact log-likelihood, samples",
        "from core import flow",
        "from core.flow import FlowConfig",
        "",
        *data_lines,
        *load,
        "print('test NLL (nats):', -model.log_prob(X_test).mean().item())",
        f"samples = model.sample({n_samples}, seed={seed})",
    )


def vae(cfg, shipped: str | None, seed: int) -> str:
    load = ([f"model = vae.load_shipped({shipped!r})  # the shipped checkpoint shown"] if shipped
            else [f"cfg = {cfg!r}", "model = vae.train(cfg)"])
    return _script(
        "# Variational autoencoder: ELBO, latent grid, samples",
        "from core import vae",
        "from core.vae import VAEConfig",
        "",
        *load,
        "grid, z_values = vae.decode_grid(model, n=15, span=2.5)  # decoded 15 x 15 latent grid",
        f"samples = model.sample(16, seed={seed})",
    )


def gan(cfg, seed: int, points=None) -> str:
    data = [] if points is None else ["import numpy as np", f"X = {_points(points)}  # your points (scaled as on the page)"]
    return _script(
        "# GAN on 2-D data: the model after cfg.steps iterations of *Train* (deterministic per seed;",
        "# single-player steps taken with Step D / Step G are not part of this script)",
        "from core import gan",
        "from core.gan import GANConfig",
        "",
        *data,
        f"cfg = {cfg!r}",
        "model = gan.train(cfg)" if points is None else "model = gan.train(cfg, gan.make_data(X))",
        f"samples = model.sample(1000, seed={seed})",
    )


def diffusion(shipped: str, n: int, sampler: str, steps: int, seed: int) -> str:
    return _script(
        "# Diffusion: sample digits from the shipped model",
        "from core import diffusion",
        "",
        f"model = diffusion.load_shipped({shipped!r})",
        f"images = model.sample({n}, seed={seed}, sampler={sampler!r}, steps={steps})",
        f"trajectory = diffusion.reverse(model, {n}, {sampler!r}, {steps}, {seed}, record=True)  # every x_t",
    )


def guided(digit: int, guidance: str, scale: float, sampler: str, steps: int, seed: int) -> str:
    return _script(
        "# Guided diffusion: sixteen digits at one guidance scale, and what the evaluator says of them",
        "import numpy as np",
        "from core import guided",
        "",
        "model, classifier, evaluator = guided.load(), guided.load_classifier(), guided.load_evaluator()",
        f"out = guided.guided_reverse(model, np.full(16, {digit}), {guidance!r}, {scale!r}, {sampler!r}, {steps}, {seed},"
        " classifier)",
        "print(evaluator.measure(out.images, out.labels))  # fidelity, confidence, diversity",
    )


def text_to_image(model: str, prompt: str, negative: str, scale: float, steps: int, n: int, seed: int,
                  scheduler: str) -> str:
    return _script(
        "# Text to image: the same pipeline, prompt, scheduler and seed",
        "from core import text_to_image as t2i",
        "",
        f"pipe = t2i.load_pipeline({model!r})",
        f"out = t2i.generate(pipe, {prompt!r}, {negative!r}, {scale!r}, {steps}, {n}, {seed}, {scheduler!r})",
        "images = out['images']  # (n, H, W, 3) in [0, 1]",
    )


def compare(config, steps: tuple = ()) -> str:
    cfg = config.replace(steps=tuple(steps)) if steps and hasattr(config, "replace") else config
    return _script(
        "# The four families on the same split; with steps= the models are exactly the ones shown",
        "from core import compare",
        "from core.compare import CompareConfig",
        "",
        f"config = {cfg!r}",
        "result = compare.compare(config)",
        "for line in compare.reading(result):",
        "    print(line)",
    )
