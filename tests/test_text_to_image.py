"""Units of the text-to-image model: captioned shapes, the diffusers pipeline, guidance and what the shapes reader
measures of it, real SD loading.

Tiny random models (8-16 channels, 2 steps) except the frozen text encoder, which is the real one (loaded once)."""
import json

import numpy as np
import pytest
import torch

from core import checkpoints, shapes
from core import text_to_image as t2i

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------------- the data

def test_shapes_data_is_deterministic_and_never_shows_held_out_pairs():
    a, ca, ta = shapes.dataset(300, seed=3)
    b, cb, tb = shapes.dataset(300, seed=3)
    assert a.shape == (300, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and ca == cb and ta == tb
    assert not np.array_equal(a, shapes.dataset(300, seed=4)[0])
    pairs = {(th.shape, th.colour) for things in ta for th in things}
    assert not pairs & set(shapes.HELD_OUT)
    assert any(len(things) == 2 for things in ta)  # some two-shape images
    held = {(th.shape, th.colour) for things in shapes.dataset(300, seed=3, held_out=True)[2] for th in things}
    assert held & set(shapes.HELD_OUT)


def test_two_shapes_never_touch_and_captions_parse_back():
    _, caps, things = shapes.dataset(400, seed=1)
    for c, th in zip(caps, things):
        parsed = shapes.parse(c)
        assert [p.shape for p in parsed] == [x.shape for x in th] and [p.colour for p in parsed] == [x.colour for x in th]
        if len(th) == 2:
            (r1, c1), (r2, c2) = shapes.cell(th[0].position), shapes.cell(th[1].position)
            assert max(abs(r1 - r2), abs(c1 - c2)) >= 2
            assert [p.position for p in parsed] == [x.position for x in th]  # two-shape captions name both places
        assert not shapes.unknown_words(c), c


def test_parse_and_unknown_words_handle_paraphrase_and_junk():
    assert shapes.parse("top-left: a little crimson disc") == [shapes.Thing("circle", "red", "small", "top left")]
    assert shapes.parse("a big blue box at the bottom and a lemon wedge in the upper right corner") == [
        shapes.Thing("square", "blue", "large", "bottom"), shapes.Thing("triangle", "yellow", None, "top right")]
    assert shapes.parse("") == [] and shapes.parse("🔥 ∑ \x00") == []
    assert shapes.unknown_words("a red zebra eating ünïcode") == ["zebra", "eating", "ünïcode"]


# ------------------------------------------------------------------------------------------- the pipeline

@pytest.fixture(scope="module")
def encoder():
    return t2i.load_tokenizer(t2i.MAX_LENGTH), t2i.load_text_encoder()


def _tiny_pipeline(encoder, seed=0):
    cfg = t2i.T2IConfig(channels=(8, 16), heads=2, seed=seed)
    unet = t2i.build_unet(cfg, latent_channels=4, latent_size=4)
    vae = t2i.build_vae(t2i.VAEConfig(channels=(8, 8), seed=seed))
    tok, enc = encoder
    return t2i.make_pipeline(unet, vae, tokenizer=tok, text_encoder=enc, config=cfg)


def _images(pipe, prompt="a small red circle in the top left", scale=3.0, steps=2, n=2, seed=0, **kw):
    return pipe(prompt=prompt, guidance_scale=scale, num_inference_steps=steps, num_images_per_prompt=n,
                latents=t2i.initial_latents(pipe, n, seed), generator=torch.Generator().manual_seed(seed), **kw)


def test_pipeline_round_trips_through_save_and_from_pretrained(encoder, tmp_path):
    pipe = _tiny_pipeline(encoder)
    before = _images(pipe).images
    assert before.shape == (2, 8, 8, 3) and np.isfinite(before).all()  # 4x4 latents, one halving: 8 px
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "GenLabText2ImagePipeline"
    assert index["text_encoder"] == [None, None] and index["text_encoder_source"] == t2i.TEXT_ENCODER_SOURCE
    assert not (tmp_path / "text_encoder").exists()  # the frozen encoder is referenced, not copied
    assert pipe.text_encoder is not None  # saving left the live pipeline whole
    again = t2i.GenLabText2ImagePipeline.from_pretrained(str(tmp_path))
    assert type(again.text_encoder).__name__ == "BertModel"
    assert np.array_equal(_images(again).images, before)
    assert not np.array_equal(_images(again, seed=1).images, before)


def test_guidance_scale_0_and_1_are_the_unconditional_and_conditional_predictions(encoder):
    pipe = _tiny_pipeline(encoder)
    z = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    cond, uncond = pipe.encode_prompt(["a red circle", ""]).chunk(2)
    cond, uncond = cond.expand(2, -1, -1), uncond.expand(2, -1, -1)
    with torch.no_grad():
        e_u = pipe.unet(z, 500, encoder_hidden_states=uncond).sample
        e_c = pipe.unet(z, 500, encoder_hidden_states=cond).sample
        assert torch.equal(pipe.guided_eps(z, 500, cond, uncond, 0.0), e_u)
        assert torch.equal(pipe.guided_eps(z, 500, cond, uncond, 1.0), e_c)
        assert not torch.equal(e_u, e_c)  # the text does reach the UNet
        torch.testing.assert_close(pipe.guided_eps(z, 500, cond, uncond, 3.0), e_u + 3.0 * (e_c - e_u),
                                   rtol=1e-4, atol=1e-5)
    # whole samples: scale 0 ignores the prompt; scale 1 with the empty prompt is scale 0
    a = _images(pipe, "a red circle", scale=0.0).images
    assert np.array_equal(a, _images(pipe, "a big green square at the bottom", scale=0.0).images)
    assert np.array_equal(a, _images(pipe, "", scale=1.0).images)
    assert not np.array_equal(a, _images(pipe, "a red circle", scale=1.0).images)
    # a negative prompt replaces the empty prompt
    assert not np.array_equal(_images(pipe, "a red circle", 3.0).images,
                              _images(pipe, "a red circle", 3.0, negative_prompt="a blue square").images)
    with pytest.raises(ValueError, match="guidance_scale"):
        _images(pipe, scale=-1.0)


@pytest.mark.parametrize("name", list(t2i.SCHEDULERS))
def test_every_scheduler_swaps_in_with_from_config(encoder, name):
    pipe = t2i.with_scheduler(_tiny_pipeline(encoder), name)
    assert type(pipe.scheduler).__name__ == t2i.SCHEDULERS[name]
    out = t2i.generate(pipe, "a red circle", steps=3, n=2, seed=5, scheduler=name, preview_every=1)
    assert out["images"].shape == (2, 8, 8, 3) and np.isfinite(out["images"]).all()
    assert len(out["previews"]) >= 3 and out["previews"][0][2].shape == (2, 8, 8, 3)
    with pytest.raises(ValueError, match="valid choices"):
        t2i.make_scheduler("Heun-ish", pipe.scheduler.config)


@pytest.mark.parametrize("prompt", ["", "   ", "circle " * 300, "😀🔥∑", "\x00\u202e日本語 zebra", "a" * 3000,
                                    "a red circle\n\tin the top left"])
def test_odd_prompts_never_crash_and_are_reported(encoder, prompt):
    pipe = _tiny_pipeline(encoder)
    out = _images(pipe, prompt, steps=1, n=1)
    assert np.isfinite(out.images).all()
    r = out.report
    assert r.empty == (not prompt.strip())
    assert r.truncated == (r.n_tokens > r.limit) and r.limit == t2i.MAX_LENGTH
    if prompt.startswith("circle "):
        assert r.truncated and r.kept_text.split() == ["circle"] * (t2i.MAX_LENGTH - 2)
        assert r.unknown_words == []
    if "zebra" in prompt:
        assert "zebra" in r.unknown_words and "日本語" in r.unknown_words


def test_training_is_deterministic_and_learns_from_token_states(encoder):
    tok, enc = encoder
    vcfg = t2i.VAEConfig(n_images=32, channels=(4, 4, 4), steps=2, batch_size=4)
    vae_a, vae_b = t2i.train_vae(vcfg, device="cpu"), t2i.train_vae(vcfg, device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(vae_a.parameters(), vae_b.parameters()))
    assert vae_a.config.scaling_factor > 0
    cfg = t2i.T2IConfig(n_images=32, channels=(8, 16), heads=2, steps=3, batch_size=4, log_every=1)
    seen = []
    pa = t2i.train(cfg, callback=lambda s, m: seen.append((s, m)), device="cpu", vae=vae_a, text_encoder=enc,
                   tokenizer=tok)
    pb = t2i.train(cfg, device="cpu", vae=vae_b, text_encoder=enc, tokenizer=tok)
    assert [s for s, _ in seen] == [1, 2, 3] and all(set(m) == {"train/loss"} and np.isfinite(m["train/loss"])
                                                     for s, m in seen)
    assert all(torch.equal(p, q) for p, q in zip(pa.unet.parameters(), pb.unet.parameters()))
    assert pa.unet.config.cross_attention_dim == 384 and pa.unet.config.sample_size == 8
    assert pa.step_ == 3 and pa.history_ == [] and pa.train_seconds_ > 0  # no held-out evaluation here
    # in chunks (resumed from the returned pipeline) bit for bit the same as in one run; the callback may stop it
    part = t2i.train(cfg, device="cpu", vae=vae_a, text_encoder=enc, tokenizer=tok, until=1)
    part = t2i.train(cfg, device="cpu", model=part)
    assert part.step_ == 3 and all(torch.equal(p, q) for p, q in zip(pa.unet.parameters(), part.unet.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(pa.train_state["unet"].parameters(),
                                                  part.train_state["unet"].parameters()))
    stopped = t2i.train(cfg, device="cpu", vae=vae_a, text_encoder=enc, tokenizer=tok, callback=lambda s, m: s >= 2)
    assert stopped.step_ == 2
    with pytest.raises(ValueError, match="same config"):
        t2i.train(cfg.replace(lr=0.1), device="cpu", model=part)


def test_configs_are_on_the_shared_base_and_train_options_are_keywords():
    import argparse

    from core import families, training

    for cls in (t2i.T2IConfig, t2i.VAEConfig):
        assert issubclass(cls, training.Config)
        p = argparse.ArgumentParser()
        cls.add_arguments(p)
        assert cls.from_arguments(p.parse_args(["--channels", "8", "16"])) == cls(channels=(8, 16))
        with pytest.raises(ValueError, match="valid fields are"):
            cls.from_dict({"chanels": [8]})
    # the shipped pipeline's recorded config still reads (it predates the ``vae`` field)
    shipped = t2i.read_meta(checkpoints.SHIPPED_DIR / t2i.SHIPPED)["config"]
    assert t2i.T2IConfig.from_dict(shipped).steps == 12000
    with pytest.raises(TypeError):
        t2i.train(t2i.T2IConfig(), None, None, None)
    assert t2i.LIKELIHOOD == families.get("text_to_image").likelihood == "none"
    # the one auxiliary model is the autoencoder: the pictures are judged by core.shapes' reader, which has no weights
    assert set(t2i.AUXILIARY) == {"text_to_image-autoencoder"} and set(t2i.AUXILIARY) <= set(families.AUXILIARY)
    assert not list(checkpoints.SHIPPED_DIR.glob("t2i_evaluator*"))


def test_autoencoder_trainer_saves_what_loads_back(tmp_path):
    vae = t2i.train_vae(t2i.VAEConfig(n_images=32, channels=(4, 4, 4), steps=2, batch_size=4), device="cpu")
    folder = t2i.save_vae(vae, tmp_path / "vae", {"command": "test"})
    meta = t2i.read_meta(folder)
    assert meta["command"] == "test" and meta["step"] == 2 and meta["config"]["channels"] == [4, 4, 4]
    loaded = t2i.load_vae(folder, "cpu")
    assert loaded.config.scaling_factor == vae.config.scaling_factor
    assert all(torch.equal(a, b) for a, b in zip(vae.state_dict().values(), loaded.state_dict().values()))


def test_decoder_fine_tune_keeps_the_encoder_and_its_latents(tmp_path):
    """decoder_of: only the decoder learns (on the shape-weighted loss), so the latents a diffusion model was trained
    on, and their scale, stay exactly as they were."""
    base = t2i.train_vae(t2i.VAEConfig(n_images=32, channels=(4, 4, 4), steps=2, batch_size=4), device="cpu")
    folder = t2i.save_vae(base, tmp_path / "vae")
    ft = t2i.train_vae(t2i.VAEConfig(n_images=32, channels=(4, 4, 4), steps=3, batch_size=4, lr=1e-2, shape_weight=4,
                                     loss="l1", decoder_of=str(folder)), device="cpu")
    assert ft.config.scaling_factor == base.config.scaling_factor and ft.step_ == 3
    a, b = base.state_dict(), ft.state_dict()
    frozen = [k for k in a if k.startswith(("encoder.", "quant_conv."))]
    learnt = [k for k in a if k.startswith(("decoder.", "post_quant_conv."))]
    assert frozen and all(torch.equal(a[k], b[k]) for k in frozen)
    assert any(not torch.equal(a[k], b[k]) for k in learnt)
    with pytest.raises(ValueError, match="loss"):
        t2i.VAEConfig(loss="huber")
    with pytest.raises(ValueError, match="latent_channels"):  # the config must say what it fine-tunes
        t2i.train_vae(t2i.VAEConfig(n_images=32, channels=(4, 4, 4), latent_channels=8, steps=1, decoder_of=str(folder)),
                      device="cpu")


# ------------------------------------------------------------------------------------------- real Stable Diffusion

def _tiny_stable_diffusion(folder):
    """A randomly initialised Stable Diffusion pipeline, built from configs and saved to ``folder``."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = ["l", "o", "w", "e", "r", "s", "t", "i", "d", "n", "a", "c", "lo", "l</w>", "w</w>", "r</w>", "t</w>",
             "low</w>", "er</w>", "lowest</w>", "newer</w>", "wider", "<unk>", "<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\nl o\nlo w</w>\ne r</w>\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                                                num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=16,
                                                bos_token_id=23, eos_token_id=24, pad_token_id=24))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), layers_per_block=1,
                                cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4, sample_size=16)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                                           beta_end=0.012, clip_sample=False, steps_offset=1),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder / "sd")
    return folder / "sd"


def test_tiny_stable_diffusion_loads_and_generates_through_the_real_loader(tmp_path, monkeypatch):
    path = _tiny_stable_diffusion(tmp_path)
    with pytest.raises(t2i.ModelUnavailable, match="GENLAB_SD_DIRS"):  # outside the allowed folders: refused
        t2i.load_pipeline(str(path))
    monkeypatch.setenv("GENLAB_SD_DIRS", str(tmp_path))
    pipe = t2i.load_pipeline(str(path))
    assert not t2i.is_mini(pipe) and type(pipe).__name__ == "StableDiffusionPipeline"
    out = t2i.generate(pipe, "a lower tower", steps=2, n=1, seed=0, scheduler="Euler", preview_every=1)
    assert out["images"].shape == (1, 16, 16, 3) and np.isfinite(out["images"]).all()
    assert len(out["previews"]) == 2
    again = t2i.generate(pipe, "a lower tower", steps=2, n=1, seed=0, scheduler="Euler")
    assert np.array_equal(out["images"], again["images"])  # seeded, a fresh scheduler per request
    long = t2i.generate(pipe, "low " * 40, steps=1, n=1, seed=0)
    assert long["report"].truncated and long["report"].limit == 16
    info = t2i.shapes_summary(pipe)
    assert info["latent"] == (4, 8, 8) and info["image"] == (3, 16, 16) and info["token_dim"] == 16


def test_hub_downloads_are_opt_in(monkeypatch):
    monkeypatch.delenv("GENLAB_ALLOW_SD_DOWNLOAD", raising=False)
    with pytest.raises(t2i.ModelUnavailable, match="GENLAB_ALLOW_SD_DOWNLOAD"):
        t2i.load_pipeline("someone/some-huge-model-that-is-not-cached")


def test_missing_stable_diffusion_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_SD_DIRS", str(tmp_path))
    with pytest.raises(t2i.ModelUnavailable, match="Could not load"):
        t2i.load_pipeline(str(tmp_path / "no_such_folder"))
    with pytest.raises(t2i.ModelUnavailable, match="No model"):
        t2i.load_pipeline("  ")


# ------------------------------------------------------------------------- what the page's figures compute

def test_token_states_one_vector_per_token_padding_included(encoder):
    pipe = _tiny_pipeline(encoder)
    tokens, states = t2i.token_states(pipe, "a red circle")
    assert len(tokens) == states.shape[0] == t2i.MAX_LENGTH and states.dtype == np.float32
    assert tokens[1:4] == ["a", "red", "circle"] and tokens[-1] == "[PAD]"
    enc = t2i.tokenize(pipe.tokenizer, ["a red circle"])
    with torch.no_grad():
        same = pipe.text_encoder(enc.input_ids).last_hidden_state[0].numpy()
    np.testing.assert_array_equal(states, same)


def test_final_latents_are_the_pipelines_undecoded_output(encoder):
    pipe = _tiny_pipeline(encoder)
    z = t2i.final_latents(pipe, "a blue square", "", 3.0, 2, "DDIM", seed=5, n=2)
    assert z.shape == (2, 4, 4, 4) and z.dtype == np.float32
    one = t2i.final_latents(pipe, "a blue square", "", 3.0, 2, "DDIM", seed=6, n=1)
    np.testing.assert_allclose(one[0], z[1], atol=1e-5)  # image i comes from seed + i alone


ROW_KEYS = {"scale", "fidelity", "exact", "shape", "variety"}  # what a measured row of guidance_rows holds


def test_guidance_rows_same_seeds_at_every_scale_measured_by_the_reader(encoder):
    pipe = _tiny_pipeline(encoder)
    rows, pics = t2i.guidance_rows(pipe, "a red circle", "", 2, "DDIM", seed=0, scales=(0.0, 2.0), n=2)
    assert list(pics) == [0.0, 2.0] and all(p.shape[0] == 2 for p in pics.values())
    np.testing.assert_array_equal(pics[2.0], t2i.generate(pipe, "a red circle", "", 2.0, 2, 2, 0, "DDIM")["images"])
    assert [r["scale"] for r in rows] == [0.0, 2.0] and all(set(r) == ROW_KEYS for r in rows)
    read = shapes.fidelity(pics[2.0], "a red circle")
    for k in ("fidelity", "exact", "shape"):
        assert rows[1][k] == pytest.approx(read[k], nan_ok=True)
    assert rows[1]["variety"] == pytest.approx(shapes.variety(pics[2.0])["variety"], nan_ok=True)
    assert t2i.guidance_rows(pipe, "a red circle", "", 2, "DDIM", 0, (1.0,), n=1, measure=False)[0] == []  # unmeasured


def _drawing(things, bad_shape_below: float = 0.0):
    """A stand-in for :func:`t2i.generate` that draws ``things`` truly (seed + i for image i), as floats in [0, 1]
    like a pipeline's output; below the scale ``bad_shape_below`` every shape comes out a square."""
    def generate(pipe, prompt, negative, scale, steps, n, seed, scheduler):
        drawn = [shapes.Thing("square", t.colour, t.size, t.position) for t in things] if scale < bad_shape_below \
            else things
        return {"images": np.stack([shapes.render(drawn, seed=seed + i) for i in range(n)]).astype(np.float32) / 255}
    return generate


def test_guidance_rows_read_true_pictures_as_right_and_wrong_shapes_as_wrong(monkeypatch):
    """What the rows mean, with the pipeline replaced by the renderer: true pictures of the prompt score 1, the
    wrong shape scores 0 on shape (colour, size and place still right), and pictures drawn from different seeds
    vary by a pixel or more."""
    want = shapes.Thing("circle", "red", "large", "top left")
    monkeypatch.setattr(t2i, "generate", _drawing([want], bad_shape_below=1.0))
    rows, pics = t2i.guidance_rows(None, "a large red circle in the top left", "", 2, "DDIM", 0, (0.0, 4.0), n=6)
    wrong, right = rows
    assert right["fidelity"] == right["exact"] == right["shape"] == 1.0
    assert wrong["shape"] == 0.0 and wrong["exact"] == 0.0 and wrong["fidelity"] == pytest.approx(0.75)
    assert right["variety"] > 1.0 and np.isfinite(wrong["variety"])
    # a prompt naming no shape: fidelity is undefined, variety is still measured
    none = t2i.guidance_rows(None, "something nice", "", 2, "DDIM", 0, (4.0,), n=4)[0][0]
    assert np.isnan(none["fidelity"]) and np.isnan(none["exact"]) and np.isnan(none["shape"])
    assert none["variety"] > 1.0


def test_load_and_load_shipped_are_the_protocols_names_for_the_pipeline_folder():
    pipe = t2i.load_shipped(device="cpu")
    assert type(pipe) is type(t2i.load(checkpoints.SHIPPED_DIR / t2i.SHIPPED, device="cpu"))
    with pytest.raises(checkpoints.CheckpointError, match="no such folder"):
        t2i.load_shipped("no_such_pipeline")


def test_the_pipeline_samples_as_every_family_does():
    pipe = t2i.load_shipped(device="cpu")
    a, b = pipe.sample(2, seed=3, steps=4), pipe.sample(2, seed=3, steps=4)
    assert a.shape[0] == 2 and a.shape[-1] == 3 and np.array_equal(a, b) and 0 <= a.min() <= a.max() <= 1


def test_nearest_caption_words_use_the_encoders_own_similarity(encoder):
    tok, enc = encoder
    emb = t2i.sentence_embeddings(enc, tok, ["a red square", "a red square", "a blue circle"])
    assert emb.shape == (3, 384) and torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert float(emb[0] @ emb[1]) == pytest.approx(1.0, abs=1e-5) and float(emb[0] @ emb[2]) < 0.99
    rows = t2i.nearest_caption_words(enc, tok, ["box", "quadrilateral", "zebra 🦓"], kinds=("shape",))
    assert [r["word"] for r in rows] == ["box", "quadrilateral", "zebra 🦓"]
    box = rows[0]
    assert box["nearest"][0]["word"] == "box" and box["nearest"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)
    for r in rows:
        assert set(r["by_value"]) == set(shapes.SHAPES)
        sims = [n["similarity"] for n in r["nearest"]]
        assert sims == sorted(sims, reverse=True) and max(r["by_value"].values()) == pytest.approx(sims[0])
    # the measured fact the page explains: this encoder puts 'quadrilateral' nearer 'triangle' than any square word
    assert rows[1]["by_value"]["triangle"] > rows[1]["by_value"]["square"]
    assert t2i.nearest_caption_words(enc, tok, []) == []
    kinds = {n["kind"] for n in t2i.nearest_caption_words(enc, tok, ["ruby"], top=60)[0]["nearest"]}
    assert kinds == {"shape", "colour", "size"}
