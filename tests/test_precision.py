"""precision=auto|fp32|bf16: bfloat16 autocast only where the CPU computes it natively, the float32
path kept, and a bf16 step that trains like the float32 one."""
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
    assert precision.autocast_dtype("auto", cpu, amp=True) == torch.bfloat16
    assert precision.autocast_dtype("fp32", cpu, amp=True) is None
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # S2D_FLOAT=other on this CPU
    assert precision.autocast_dtype("auto", cpu, amp=True) is None
    assert precision.autocast_dtype("bf16", cpu, amp=True) == torch.bfloat16  # asked for: given
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "avx512f"})  # emulated only
    assert precision.autocast_dtype("auto", cpu, amp=True) is None
    # a GPU keeps the release's float16 AMP, whatever the CPU setting
    assert precision.autocast_dtype("auto", torch.device("cuda"), amp=True) == torch.float16
    assert precision.autocast_dtype("bf16", torch.device("cuda"), amp=False) is None


def test_bf16_attention_takes_the_math_path():
    flags = torch.backends.cuda  # SDPA's backend switches (they apply to the CPU kernels too)
    with precision.attention_path(torch.bfloat16, torch.device("cpu")):
        assert flags.math_sdp_enabled() and not flags.flash_sdp_enabled()
    assert flags.flash_sdp_enabled()  # restored
    with precision.attention_path(None, torch.device("cpu")):
        assert flags.flash_sdp_enabled()


def test_a_bad_precision_is_named():
    with pytest.raises(ValueError, match="precision must be one of"):
        load_config("static_tiny", ["precision=fp16"])


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
