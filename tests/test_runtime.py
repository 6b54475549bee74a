import numpy as np
import pytest
import torch

from core import runtime


def test_device_is_detected_and_env_override(monkeypatch):
    runtime.pick_device.cache_clear()
    monkeypatch.delenv(runtime.DEVICE_ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert runtime.pick_device() == expected
    assert runtime.pick_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="valid choices"):
        runtime.pick_device("tpu")
    runtime.pick_device.cache_clear()


def test_generators_are_seeded_and_leave_global_state_alone():
    before = torch.random.get_rng_state()
    a = torch.randn(5, generator=runtime.torch_generator(3))
    b = torch.randn(5, generator=runtime.torch_generator(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.randn(5, generator=runtime.torch_generator(4)))
    assert np.array_equal(runtime.numpy_rng(1).random(4), runtime.numpy_rng(1).random(4))
    m1 = runtime.seeded_init(lambda: torch.nn.Linear(3, 3), 7)
    m2 = runtime.seeded_init(lambda: torch.nn.Linear(3, 3), 7)
    assert torch.equal(m1.weight, m2.weight)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_dtype_and_threads():
    assert runtime.inference_dtype("cpu") == torch.float32
    assert runtime.inference_dtype("cuda") == torch.float16
    n = torch.get_num_threads()
    assert runtime.set_threads(1) == 1 and torch.get_num_threads() == 1
    runtime.set_threads(n)


def test_bf16_autocast_only_where_the_device_runs_it_natively(monkeypatch):
    """A model trained under bf16 autocast samples in float32 on a CPU without native bf16 (emulated bf16 ran
    50x slower than float32 on an AVX2 CPU), and in bf16 where the hardware has it."""
    import contextlib

    import torch

    from core import diffusion

    assert runtime.effective_precision("cpu", "fp32") == "fp32"
    monkeypatch.setattr(runtime, "bf16_is_fast", lambda device: False)
    assert runtime.effective_precision("cpu", "bf16") == "fp32"
    assert isinstance(runtime.autocast(torch.device("cpu"), "bf16"), contextlib.nullcontext)
    monkeypatch.setattr(runtime, "bf16_is_fast", lambda device: device == "cpu")
    assert runtime.effective_precision(torch.device("cpu"), "bf16") == "bf16"
    assert isinstance(runtime.autocast("cpu", "bf16"), torch.autocast)
    # the model's own forward follows it: bf16 activations inside the network only when allowed
    m = diffusion.build(diffusion.DiffusionConfig(data="moons", T=10, precision="bf16"), (2,), device="cpu")
    with m._autocast():
        assert torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(runtime, "bf16_is_fast", lambda device: False)
    with m._autocast():
        assert not torch.is_autocast_enabled("cpu")
