"""Keep a deterministic dataset's items in memory after their first read.

Many runs on the same data (the seeds and arms of an ablation study) would otherwise decode
the same JPEG frames again in every epoch of every run. Only for datasets whose items never
change (test views, the landmark-cached training views): an augmented split must not be wrapped.
"""
from __future__ import annotations

from torch.utils.data import Dataset

__all__ = ["InMemory"]


class InMemory(Dataset):
    """``dataset`` whose item ``i`` is read once and then served from memory."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._items: dict[int, tuple] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self._items.get(index)
        if item is None:
            item = self._items[index] = self.dataset[index]
        return item

    def __getattr__(self, name: str):  # labels, class names, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)
