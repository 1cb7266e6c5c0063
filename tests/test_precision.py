"""precision=auto|fp32|bf16|fp16: bfloat16 autocast only where the CPU computes it natively, the
release's float16 on a GPU, the float32 path kept, and a bf16 step that trains like the float32
one."""
from __future__ import annotations

import pytest
import torch

from s2d_lib import precision
from s2d_lib.config import load_config


def test_auto_follows_the_cpu_and_the_float_path(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "avx512f", "amx_bf16"})
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    assert precision.autocast_dtype("auto", cpu) == torch.bfloat16
    assert precision.autocast_dtype("fp32", cpu) is None
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # S2D_FLOAT=other on this CPU
    assert precision.autocast_dtype("auto", cpu) is None
    assert precision.autocast_dtype("bf16", cpu) == torch.bfloat16  # asked for: given
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "avx512f"})  # emulated only
    assert precision.autocast_dtype("auto", cpu) is None
    # one setting for every device: auto is the release's float16 AMP on a GPU, fp32 is float32
    cuda = torch.device("cuda")
    assert precision.autocast_dtype("auto", cuda) == precision.autocast_dtype("fp16", cuda) \
        == precision.autocast_dtype("fp16", cpu) == torch.float16
    assert precision.autocast_dtype("fp32", cuda) is None
    assert precision.autocast_dtype("bf16", cuda) == torch.bfloat16


def test_bf16_attention_takes_the_math_path():
    flags = torch.backends.cuda  # SDPA's backend switches (they apply to the CPU kernels too)
    with precision.attention_path(torch.bfloat16, torch.device("cpu")):
        assert flags.math_sdp_enabled() and not flags.flash_sdp_enabled()
    assert flags.flash_sdp_enabled()  # restored
    with precision.attention_path(None, torch.device("cpu")):
        assert flags.flash_sdp_enabled()


def test_a_bad_precision_is_named():
    with pytest.raises(ValueError, match="precision must be one of"):
        load_config("static_tiny", ["precision=fp8"])


def test_amp_reads_as_precision_or_says_what_to_write(tmp_path):
    saved = tmp_path / "config.yaml"  # every config saved before precision alone said it
    saved.write_text("preset: static_tiny\namp: true\nprecision: fp32\n")
    assert load_config(saved).precision == "fp32"
    assert load_config("static_tiny", ["amp=true"]).precision == "auto"
    for source, changes in ((saved, ["amp=false"]), ("static_tiny", {"amp": False})):
        with pytest.raises(ValueError, match="amp=false is retired.*precision=fp32"):
            load_config(source, changes)


def _fp16_trainer(tmp_path):
    from torch.utils.data import TensorDataset

    from s2d_lib.splits import DataSplits
    from s2d_lib.trainer import Trainer

    torch.manual_seed(0)
    x, y = torch.randn(8, 3, 64, 64), torch.arange(8) % 2
    data = DataSplits(TensorDataset(x, y), TensorDataset(x, y), None, y.tolist(), ["a", "b"],
                      name="toy")
    cfg = load_config("static_tiny", dict(
        num_classes=2, epochs=1, batch_size=4, warmup_epochs=0, val_fraction=0.0, mixup=0.0,
        cutmix=0.0, landmark_cache=False, landmark_weights=None, vit_weights=None,
        progress=False, device="cpu", precision="fp16", out_dir=str(tmp_path)))
    return Trainer(cfg, data, None, ()), x[:4, :, None], y[:4]  # a batch of 1-frame clips


def test_the_gpu_float16_path_scales_skips_an_overflow_and_backs_off_on_the_cpu(tmp_path):
    """precision=fp16 is the release's GPU AMP: float16 autocast with a GradScaler. The CPU runs
    the same path: a step whose scaled gradients overflow float16 changes no weight and halves
    the scale; the next step, at a scale that fits, trains."""
    run, x, y = _fp16_trainer(tmp_path)
    assert run.use_amp and run.amp_dtype == torch.float16 and run.scaler.is_enabled()
    run.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 60)
    before = {n: p.detach().clone() for n, p in run.model.named_parameters() if p.requires_grad}
    losses = run._step(x, y, None, 0.0, False, {"easdl_steps": 0})
    assert torch.isfinite(losses).all()  # the loss itself is float32 and finite
    assert all(torch.equal(p, before[n]) for n, p in run.model.named_parameters() if n in before)
    assert run.scaler.get_scale() == 2.0 ** 59
    run.scaler = torch.amp.GradScaler("cpu", init_scale=1.0)
    run._step(x, y, None, 0.0, False, {"easdl_steps": 0})
    assert not torch.equal(run.model.head.fc_cls.weight, before["head.fc_cls.weight"])
    assert run.scaler.get_scale() == 1.0


def test_a_bf16_step_trains_like_the_fp32_step(mini_suite, tmp_path):
    """Eight static steps from one seed in float32 and in bfloat16: the same decrease of the loss
    to within bfloat16's rounding, other bits."""
    from s2d_lib.splits import build_data
    from s2d_lib.trainer import Trainer

    losses, weights = {}, {}
    for mode in ("fp32", "bf16"):
        cfg = load_config("static_tiny", [f"data_root={mini_suite / 'RAF-DB'}", "landmark_weights=",
                                          "vit_weights=", "epochs=1", "steps_per_epoch=8",
                                          "batch_size=8", "val_fraction=0", f"precision={mode}",
                                          f"out_dir={tmp_path / mode}", "progress=false"])
        trainer = Trainer(cfg, build_data(cfg), None, ())
        assert trainer.use_amp == (mode == "bf16")
        row = trainer._train_epoch()
        losses[mode] = row["train_loss"]
        weights[mode] = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    assert losses["fp32"] != losses["bf16"]
    assert abs(losses["fp32"] - losses["bf16"]) < 0.05 * losses["fp32"]
    assert (weights["fp32"] - weights["bf16"]).abs().max() < 0.05
