"""What moved while a claims run trained, so that an arm that did not train is seen as such:
the validation curve (is the selected epoch the last one?), the Fovea sharpness of the
prompters, and for video runs how far the TMAs' weights moved, how large their output is
against their input, and how far their attention over frames left uniform
(:mod:`s2d_course.tma_attention`)."""
from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from s2d_lib.config import TrainConfig
from s2d_lib.metrics import selected_epoch, selection_metric

__all__ = ["what_moved", "start_of", "validation_curve", "fovea_sharpness", "tma_change"]


def validation_curve(cfg: TrainConfig, history: list[dict]) -> dict:
    """The selection metric per epoch, the selected epoch, and whether it is the last one (a run
    whose best epoch is its last may not have converged)."""
    metric = selection_metric(cfg.dataset)
    select = f"val_{metric}"
    validated = [row for row in history if select in row]
    curve = [row[select] for row in validated]
    if not curve:
        return {"metric": select, "curve": [], "best_epoch": None, "best_is_last": None}
    best = validated.index(selected_epoch(validated, metric))
    return {"metric": select, "curve": curve, "best_epoch": best + 1,
            "best_is_last": best == len(curve) - 1,
            "train_loss": [row["train_loss"] for row in history]}


def fovea_sharpness(state: dict) -> float:
    """The mean Fovea sharpness ``s`` over the prompters of a state dict (initialised at 10)."""
    values = [float(v.float().mean()) for k, v in state.items() if k.endswith("fovea.smooth")]
    return float(np.mean(values)) if values else float("nan")


def tma_change(start: dict, end: dict) -> float:
    """``||θ_end − θ_start|| / ||θ_start||`` over every TMA weight."""
    keys = [k for k in start if ".TMA." in k]
    moved = sum(float((end[k].float() - start[k].float()).pow(2).sum()) for k in keys)
    size = sum(float(start[k].float().pow(2).sum()) for k in keys)
    return float(np.sqrt(moved / size)) if size else float("nan")


def start_of(cfg: TrainConfig):
    """``cfg``'s model as its run started: rebuilt as the trainer builds it (same seed, same
    initialisation)."""
    from s2d_lib.build import build_model
    from s2d_lib.seeding import seed_everything

    seed_everything(cfg.seed)
    return build_model(cfg)


def what_moved(cfg: TrainConfig, history: list[dict], test: Dataset | None) -> dict:
    """What moved in ``cfg``'s finished run (its ``best.safetensors``) from its start (rebuilt
    as the trainer builds it: same seed, same initialisation)."""
    from s2d_lib.checkpoints import load_any_checkpoint

    from ..tma_attention import attention_stats

    start_model = start_of(cfg)
    start = {k: v.detach().clone() for k, v in start_model.state_dict().items()}
    end_model = load_any_checkpoint(cfg.run_dir / "best.safetensors")
    end = end_model.state_dict()
    out = {"validation": validation_curve(cfg, history),
           "fovea_sharpness": [fovea_sharpness(start), fovea_sharpness(end)]}
    if cfg.num_frames > 1:
        out["tma_change"] = tma_change(start, end)
        if test is not None and cfg.temporal_attention:  # no attention over frames to read else
            out["tma_attention"] = {"before": attention_stats(start_model, test),
                                    "after": attention_stats(end_model, test)}
    return out
