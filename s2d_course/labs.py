"""The lab track (``notebooks/labs/``): four notebooks in which a student writes one part of S2D
each, from a skeleton, and checks it against the library.

A lab's check compares the student's result with the library's on the same input and, when they
differ, says in words what is still wrong (:func:`compare`): a value that is no tensor, a shape
(and whether its sizes are only in another order), values that are not finite, or the element
where the two differ most, with both values; a lab may add its own diagnoses (``hints``: a
test of the student's result and what it means when it fails). The labs read the trained
models and the synthetic data through :func:`shipped_model` and :func:`lab_data`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch

from . import artifacts
from .paths import relative

__all__ = ["LabCheckError", "expect", "compare", "same_parameters", "shipped_model", "lab_data",
           "train_steps", "flat_parameters"]

#: A lab's own diagnosis: a test of the student's tensor (True: fine) and what a failure means.
Hint = tuple[Callable[[torch.Tensor], bool], str]


class LabCheckError(AssertionError):
    """A student's part does not yet give the library's result; the message says how."""


def _index(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    """The index of element ``flat`` of a tensor of ``shape`` (row-major)."""
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def _shape_problem(name: str, got: torch.Tensor, expected: torch.Tensor) -> str:
    """Why the shape of ``got`` is not the shape of ``expected``, in words."""
    msg = f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if sorted(got.shape) == sorted(expected.shape):
        return msg + " (the same sizes in another order: a transpose is missing, extra or swaps the wrong axes)"
    if got.numel() == expected.numel():
        return msg + " (the same number of elements: reshape to the expected shape at the end)"
    return msg + f" ({got.numel()} elements instead of {expected.numel()}: an axis is summed, dropped or repeated)"


def expect(name: str, got, shape: Sequence[int], hints: Sequence[Hint] = ()) -> str:
    """Check what ``got`` must be whatever its values: a tensor of ``shape``, passing the lab's
    ``hints``, every value finite; raise :class:`LabCheckError` saying what is wrong."""
    shape = tuple(shape)
    if not isinstance(got, torch.Tensor):
        raise LabCheckError(f"{name} returned {type(got).__name__}, expected a torch.Tensor of shape {shape}")
    got = got.detach()
    if tuple(got.shape) != shape:
        raise LabCheckError(_shape_problem(name, got, torch.empty(shape, device="meta")))
    for test, meaning in hints:
        if not test(got):
            raise LabCheckError(f"{name}: {meaning}")
    bad = ~torch.isfinite(got)
    if bad.any():
        raise LabCheckError(f"{name}: {int(bad.sum())} of {got.numel()} values are NaN or infinite "
                            f"(first at index {_index(int(bad.flatten().nonzero()[0]), got.shape)})")
    return f"{name}: shape {shape}" + (", every check passes" if hints else "")


def compare(name: str, got, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4,
            hints: Sequence[Hint] = ()) -> str:
    """Check that ``got`` (the student's) equals ``expected`` (the library's) to the tolerances;
    raise :class:`LabCheckError` saying what is wrong (type, shape, a lab's own ``hints``,
    non-finite values, the element that differs most); return a one-line verdict."""
    expect(name, got, expected.shape, hints)
    got, expected = got.detach(), expected.detach()
    got, expected = got.double(), expected.double()
    off = (got - expected).abs() > atol + rtol * expected.abs()
    if off.any():
        worst = int((got - expected).abs().flatten().argmax())
        at = _index(worst, got.shape)
        raise LabCheckError(
            f"{name}: {int(off.sum())} of {got.numel()} values differ from the library's; the "
            f"largest difference is at index {at}: yours {got.flatten()[worst].item():.6g}, the "
            f"library's {expected.flatten()[worst].item():.6g}")
    return f"{name}: matches the library, shape {tuple(got.shape)}"


def same_parameters(name: str, got: Sequence[Sequence[torch.nn.Parameter]],
                    expected: Sequence[Sequence[torch.nn.Parameter]], labels: Sequence[str]) -> str:
    """Check that two partitions of parameters (``got``: the student's groups, ``expected``: the
    library's, each group labelled by ``labels``) hold the same tensors; say which differ."""
    if len(got) != len(expected):
        raise LabCheckError(f"{name}: {len(got)} parameter groups, expected {len(expected)} "
                            f"({', '.join(labels)})")
    for label, mine, theirs in zip(labels, got, expected):
        mine_ids, their_ids = {id(p) for p in mine}, {id(p) for p in theirs}
        if mine_ids != their_ids:
            extra, missing = len(mine_ids - their_ids), len(their_ids - mine_ids)
            raise LabCheckError(f"{name}: the group {label!r} has {extra} tensor(s) too many and "
                                f"{missing} missing (its {len(theirs)} tensors hold "
                                f"{sum(p.numel() for p in theirs):,} values)")
    counts = ", ".join(f"{label} {len(group)} tensors" for label, group in zip(labels, expected))
    return f"{name}: the same parameters as the library's groups ({counts})"


def shipped_model(stage: str, device: str = "cpu") -> torch.nn.Module:
    """The trained tiny model of ``stage`` (``static``, ``temporal`` or ``dfer``) that ships in
    ``trained/``, in eval mode: the same weights, so the same numbers, on every machine."""
    if stage not in ("static", "temporal", "dfer"):
        raise ValueError(f"stage must be 'static', 'temporal' or 'dfer', got {stage!r}")
    if stage == "static":
        run = artifacts.static_run("tiny")
    else:
        run = artifacts.video_run(stage, "tiny")
    return artifacts.load_best(run, device)


def lab_data(dataset: str) -> list[str]:
    """Overrides for ``s2d_lib.config.load_config`` that point a tiny preset at the synthetic
    ``dataset`` (built when missing) and at the shipped MAE and landmark weights."""
    root = Path(artifacts.synthetic_data()) / dataset
    if not root.is_dir():
        raise ValueError(f"{dataset}: no such synthetic dataset under {relative(root.parent)}")
    return [f"data_root={root}", f"landmark_weights={artifacts.landmark_weights()}",
            f"vit_weights={artifacts.mae_weights()}"]


def train_steps(model: torch.nn.Module, batches, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler) -> list[float]:
    """The course's reference for one epoch of plain training, the twin of lab L4's
    ``train_one_epoch``: for each batch of images ``(x, y)``, the cross-entropy of the model's
    logits on one-frame clips, a backward pass, an optimiser step, then a scheduler step.
    Returns the loss of each step."""
    model.train()
    losses = []
    for x, y in batches:
        loss = torch.nn.functional.cross_entropy(model(x.unsqueeze(2) if x.dim() == 4 else x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def flat_parameters(model: torch.nn.Module) -> torch.Tensor:
    """Every trainable parameter of ``model`` in one vector (to compare two models' weights)."""
    return torch.cat([p.detach().flatten() for p in model.parameters() if p.requires_grad])
