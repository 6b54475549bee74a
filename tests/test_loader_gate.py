"""The loader gate: a folder a visitor names is checked before anything in it is read, and every failure of a
user-named or shipped checkpoint is one CheckpointError with a clear message (pages show it, never a traceback).

Shipped checkpoints are found through ``core.checkpoints.SHIPPED_DIR`` (read at call time), so these tests copy
``checkpoints/`` to a temporary folder, break one file there and point the module constant at the copy.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import streamlit as st
from safetensors.torch import load_file, save_file

from core import checkpoints as ck
from core import diffusion, flow, gan, guided, vae
from core import text_to_image as t2i
from tests.pagetest import open_page

MINI = ck.SHIPPED_DIR / "t2i_shapes"


# ------------------------------------------------------------------------------------ the Stable Diffusion field

@pytest.fixture
def roots(tmp_path, monkeypatch):
    """An allowed folder (GENLAB_SD_DIRS) and a folder beside it that is not allowed."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    monkeypatch.setenv("GENLAB_SD_DIRS", str(allowed))
    return allowed, outside


@pytest.fixture
def nothing_is_read(monkeypatch):
    """Fail the test if the loader reads any model file (refusals must come before reading)."""
    def boom(*a, **k):
        raise AssertionError("a file of the named folder was read before the allowed-roots check")

    for name in ("_read_json", "check_mini_folder", "load_mini", "_pipeline_class"):
        monkeypatch.setattr(t2i, name, boom)


def _copy_mini(dest: Path) -> Path:
    shutil.copytree(MINI, dest)
    return dest


def test_a_copy_of_the_shipped_pipeline_outside_the_roots_is_refused_unread(roots, nothing_is_read):
    _, outside = roots
    forged = _copy_mini(outside / "t2i_shapes")
    with pytest.raises(ck.CheckpointError, match="not inside a folder this server allows") as e:
        t2i.load_pipeline(str(forged))
    assert isinstance(e.value, t2i.ModelUnavailable) and "GENLAB_SD_DIRS" in str(e.value)
    with pytest.raises(t2i.ModelUnavailable, match="not inside"):  # the same by a relative path with ..
        t2i.load_pipeline(os.path.relpath(forged))


def test_a_symlink_inside_a_root_that_points_out_is_refused_unread(roots, nothing_is_read):
    allowed, outside = roots
    forged = _copy_mini(outside / "t2i_shapes")
    (allowed / "innocent").symlink_to(forged, target_is_directory=True)
    with pytest.raises(t2i.ModelUnavailable, match="not inside a folder this server allows"):
        t2i.load_pipeline(str(allowed / "innocent"))


def test_a_folder_in_a_root_whose_parts_link_out_is_refused(roots, nothing_is_read):
    allowed, outside = roots
    forged = _copy_mini(outside / "t2i_shapes")
    folder = allowed / "mixed"
    folder.mkdir()
    for part in forged.iterdir():
        (folder / part.name).symlink_to(part)
    with pytest.raises(t2i.ModelUnavailable, match="link that leads out of the allowed folders"):
        t2i.load_pipeline(str(folder))


def test_outside_the_roots_an_existing_and_a_missing_path_read_alike(roots, nothing_is_read):
    _, outside = roots
    say = []
    for path in (outside, outside / "no_such_folder"):
        with pytest.raises(t2i.ModelUnavailable) as e:
            t2i.load_pipeline(str(path))
        say.append(str(e.value).replace(str(path), "PATH"))
    assert say[0] == say[1], say  # no way to probe the server's disk


@pytest.mark.parametrize("name", ["/tmp/x\x00y", "models/a\x00b", "./a\nb", "\x00"])
def test_a_nul_byte_or_line_break_in_the_name_is_a_clear_message(name, nothing_is_read):
    with pytest.raises(t2i.ModelUnavailable, match="control characters"):
        t2i.load_pipeline(name)


def test_a_copy_inside_the_roots_loads(roots):
    allowed, _ = roots
    pipe = t2i.load_pipeline(str(_copy_mini(allowed / "mine")), device="cpu")
    assert t2i.is_mini(pipe)
    ids = pipe.tokenizer("a red circle")["input_ids"]
    assert pipe.tokenizer.unk_token_id not in ids


def _index(folder: Path, value) -> None:
    folder.mkdir()
    (folder / "model_index.json").write_text(value if isinstance(value, str) else json.dumps(value))


@pytest.mark.parametrize("variant, says", [
    ("invalid", "not valid JSON"),
    ("list", "holds a JSON list"),
    ("number", "holds a JSON number"),
    ("directory", "missing or not a file"),
    ("absent", "missing or not a file"),
    ("empty genlab", "is incomplete"),
    ("stable diffusion without weights", "exists but could not be loaded"),
])
def test_malformed_folders_in_the_roots_say_what_is_wrong(roots, variant, says):
    allowed, _ = roots
    folder = allowed / "model"
    if variant == "invalid":
        _index(folder, '{"_class_name": "GenLabText2ImagePipeline", ')
    elif variant == "list":
        _index(folder, [1, 2, 3])
    elif variant == "number":
        _index(folder, "42")
    elif variant == "directory":
        (folder / "model_index.json").mkdir(parents=True)
    elif variant == "absent":
        (folder / "unet").mkdir(parents=True)
    elif variant == "empty genlab":
        _index(folder, {"_class_name": "GenLabText2ImagePipeline"})
    else:
        _index(folder, {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]})
    with pytest.raises(ck.CheckpointError, match=says) as e:
        t2i.load_pipeline(str(folder))
    assert isinstance(e.value, t2i.ModelUnavailable)
    assert "no such" not in str(e.value)  # it exists: never reported as missing


def _drop_manifest(folder: Path) -> None:
    meta = json.loads((folder / "genlab.json").read_text())
    meta.pop("files", None)
    (folder / "genlab.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("manifest", [True, False], ids=["with sha256 list", "without"])
@pytest.mark.parametrize("fault, says", [
    ("truncated unet", ["corrupt", "could not be read", "could not be loaded"]),
    ("bin unet", ["pickle"]),
    ("no tokenizer.json", ["tokenizer/tokenizer.json"]),
    ("tensor missing", ["corrupt", "1 tensor missing"]),
])
def test_broken_genlab_folders_in_the_roots_are_one_clear_error(roots, manifest, fault, says):
    allowed, _ = roots
    folder = _copy_mini(allowed / "broken")
    if not manifest:
        _drop_manifest(folder)
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    if fault == "truncated unet":
        unet.write_bytes(unet.read_bytes()[:5000])
    elif fault == "bin unet":
        unet.rename(unet.with_suffix(".bin"))
    elif fault == "no tokenizer.json":
        (folder / "tokenizer" / "tokenizer.json").unlink()
    else:
        tensors = load_file(str(unet))
        del tensors["conv_in.bias"]
        save_file(tensors, str(unet))
    with pytest.raises(ck.CheckpointError) as e:
        t2i.load_pipeline(str(folder), device="cpu")
    assert any(s in str(e.value) for s in says), str(e.value)


def test_a_hub_id_that_is_not_cached_is_not_called_a_missing_folder(monkeypatch):
    monkeypatch.delenv("GENLAB_ALLOW_SD_DOWNLOAD", raising=False)
    with pytest.raises(t2i.ModelUnavailable) as e:
        t2i.load_pipeline("someone/not-cached-here")
    assert "Hugging Face cache" in str(e.value) and "folder" not in str(e.value)


# ------------------------------------------------------------------------------------ shipped checkpoints

@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """A copy of checkpoints/ that the loaders use instead (SHIPPED_DIR), with Streamlit's caches cleared."""
    copy = tmp_path / "checkpoints"
    shutil.copytree(ck.SHIPPED_DIR, copy)
    monkeypatch.setattr(ck, "SHIPPED_DIR", copy)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield copy
    st.cache_resource.clear()
    st.cache_data.clear()


#: shipped checkpoint -> its loader (through the shipped folder) and a config field that sets a tensor's width
FAMILIES = {
    "gan_ring8": (lambda: gan.load_shipped("gan_ring8", "cpu"), "g_width"),
    "gan_ring8_cgan": (lambda: gan.load_shipped("gan_ring8_cgan", "cpu"), "d_width"),
    "vae_mnist_z2_beta1": (lambda: vae.load_shipped("vae_mnist_z2_beta1", "cpu"), "hidden"),
    "flow_moons": (lambda: flow.load(ck.shipped("flow_moons"), "cpu"), "hidden"),
    "diffusion_swiss_roll": (lambda: diffusion.load_shipped("diffusion_swiss_roll", "cpu"), "hidden"),
    "diffusion_mnist16_ae": (lambda: diffusion.load_autoencoder("diffusion_mnist16_ae", "cpu"), "channels"),
    "guided_mnist16": (lambda: guided.load("guided_mnist16", "cpu"), "channels"),
    "guided_classifier": (lambda: guided.load_classifier("guided_classifier", "cpu"), "channels"),
    "guided_evaluator": (lambda: guided.load_evaluator("guided_evaluator", "cpu"), "channels"),
}


def _edit_record(folder: Path, name: str, edit) -> None:
    f = folder / f"{name}.json"
    record = json.loads(f.read_text())
    edit(record)
    f.write_text(json.dumps(record))


def _widen(record: dict, key: str) -> None:
    v = record["config"][key]
    record["config"][key] = [2 * x for x in v] if isinstance(v, list) else 2 * v


def _drop_tensor(folder: Path, name: str) -> str:
    """Delete one weight tensor and record the new file's sha256, as a forger would."""
    w = folder / f"{name}.safetensors"
    tensors = load_file(str(w))
    key = next(k for k in sorted(tensors) if k.endswith("bias"))
    del tensors[key]
    save_file(tensors, str(w))
    _edit_record(folder, name, lambda r: r.update(weights_sha256=ck._sha256(w)))
    return key


FAULTS = {
    "width changed": (lambda d, n, key: _edit_record(d, n, lambda r: _widen(r, key)), "wrong shapes"),
    "tensor missing": (lambda d, n, key: _drop_tensor(d, n), "missing"),
    "config garbage": (lambda d, n, key: _edit_record(d, n, lambda r: r.update(config="garbage")),
                       "'config' is a JSON string, not an object"),
    "invalid JSON": (lambda d, n, key: (d / f"{n}.json").write_text('{"family": "gan", "config": {'), "not valid JSON"),
    "JSON list": (lambda d, n, key: (d / f"{n}.json").write_text("[1, 2]"), "holds a JSON list"),
    "weights truncated": (lambda d, n, key: (d / f"{n}.safetensors").write_bytes(
        (d / f"{n}.safetensors").read_bytes()[:100]), "corrupt"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_turns_a_broken_checkpoint_into_one_clear_error(shipped_copy, name, fault):
    load, key = FAMILIES[name]
    if fault == "width changed" and key is None:
        pytest.skip("this network's shape is not in its config")
    make, says = FAULTS[fault]
    make(shipped_copy, name, key)
    with pytest.raises(ck.CheckpointError) as e:
        load()
    message = str(e.value)
    assert says in message and name in message and len(message) < 600, message
    assert "Traceback" not in message and "size mismatch for" not in message


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_shipped_checkpoint_passes_the_gate(name):
    FAMILIES[name][0]()


def test_check_tensors_names_missing_wrong_and_extra_tensors():
    import torch

    have = {"a": torch.zeros(2, 3), "b": torch.zeros(4), "extra": torch.zeros(1)}
    with pytest.raises(ck.CheckpointError) as e:
        ck.check_tensors(have, {"a": (2, 3), "b": (5,), "c": (1,)}, "ckpt", "the net")
    m = str(e.value)
    assert "1 tensor missing (c)" in m and "b is [4], the config needs [5]" in m and "(extra)" in m
    ck.check_tensors(have, {"a": (2, 3)}, strict=False)


def test_the_shipped_pipeline_without_its_tokenizer_file_is_an_error_not_unk(shipped_copy):
    (shipped_copy / "t2i_shapes" / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(ck.CheckpointError, match="tokenizer/tokenizer.json is missing"):
        t2i.load_mini(device="cpu")


def test_the_shipped_pipeline_with_a_damaged_vocabulary_is_an_error_not_unk(shipped_copy):
    folder = shipped_copy / "t2i_shapes"
    _drop_manifest(folder)  # so only the check after loading can notice
    f = folder / "tokenizer" / "tokenizer.json"
    tok = json.loads(f.read_text())
    tok["model"]["vocab"] = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    f.write_text(json.dumps(tok))
    with pytest.raises(ck.CheckpointError, match=r"\[UNK\]"):
        t2i.load_mini(device="cpu")


# ------------------------------------------------------------------------------------ the pages say it

def _page_ok(at):
    assert not at.exception, [e.value for e in at.exception]


def test_the_gan_page_says_its_checkpoint_does_not_fit(shipped_copy, one_torch_thread):
    _edit_record(shipped_copy, "gan_ring8", lambda r: _widen(r, "g_width"))
    at = open_page("pages/gan.py")
    _page_ok(at)
    warning = " ".join(w.value for w in at.warning)
    assert "could not be loaded" in warning and "gan_ring8" in warning and "wrong shapes" in warning, warning


@pytest.mark.parametrize("name, fault, says", [
    ("gan_ring8_cgan", "tensor missing", "The shipped ring cGAN could not be loaded"),
    ("gan_mnist_cgan", "config garbage", "The shipped digit cGAN could not be loaded"),
])
def test_the_conditional_gan_view_says_its_checkpoint_is_broken(shipped_copy, one_torch_thread, name, fault, says):
    FAULTS[fault][0](shipped_copy, name, None)
    at = open_page("pages/gan.py", {"view": "Conditional GAN"})
    _page_ok(at)
    warning = " ".join(w.value for w in at.warning)
    assert says in warning and FAULTS[fault][1] in warning and name in warning, warning


def test_the_text_to_image_page_says_its_tokenizer_is_missing(shipped_copy, one_torch_thread):
    (shipped_copy / "t2i_shapes" / "tokenizer" / "tokenizer.json").unlink()
    at = open_page("pages/text_to_image.py", {"steps": 1, "n": 1})
    _page_ok(at)
    error = " ".join(e.value for e in at.error)
    assert "could not be loaded" in error and "tokenizer/tokenizer.json" in error, error


def test_a_refused_sd_folder_on_the_page_is_a_warning_not_a_crash(roots, one_torch_thread):
    allowed, outside = roots
    forged = _copy_mini(outside / "t2i_shapes")
    broken = allowed / "broken"
    _index(broken, "[1, 2]")
    for name, says in [(str(forged), "not inside"), (str(broken), "JSON list"), (str(allowed / "a\x00b"), "control")]:
        at = open_page("pages/text_to_image.py", {"model": "Stable Diffusion (local folder or hub id)", "sd": name,
                                                  "steps": 1, "n": 1})
        _page_ok(at)
        assert not at.error, [e.value for e in at.error]
        from core.text import unescape_md

        warning = unescape_md(" ".join(w.value for w in at.warning))
        operator = unescape_md(" ".join(m.value for e in at.expander if e.label == "For the server's operator"
                                        for m in e.markdown))  # why, in the loader's words: for the operator
        assert "no usable Stable Diffusion weights" in warning and says in operator, (warning, operator)


def test_the_diffusion_page_says_its_2d_checkpoint_is_corrupt(shipped_copy, one_torch_thread):
    (shipped_copy / "diffusion_swiss_roll.json").write_text("{not json")
    at = open_page("pages/diffusion.py", {"view": "2-D model"})
    _page_ok(at)
    warning = " ".join(w.value for w in at.warning)
    assert "could not be loaded" in warning and "diffusion_swiss_roll.json" in warning and "not valid JSON" in warning, \
        warning
