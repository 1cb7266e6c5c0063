"""Which GPU each process of a torchrun job takes, checked with the CUDA and process-group calls
replaced by recorders (no GPU needed): the device is set before the group is joined."""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from s2d_lib import distributed


@pytest.fixture
def calls(monkeypatch):
    """A node with ``gpus`` GPUs where every CUDA / process-group call is recorded."""
    record: list[tuple] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: record.append(("set_device", d)))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group",
                        lambda backend, **kw: record.append(("init", backend, kw.get("device_id"))))
    monkeypatch.setattr(dist, "get_rank", lambda: int(__import__("os").environ["RANK"]))
    monkeypatch.setattr(dist, "get_world_size", lambda: 4)
    return record


def _as_rank(monkeypatch, rank: int, local_rank: int) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))


@pytest.mark.parametrize("rank, local_rank", [(0, 0), (1, 1), (3, 3), (6, 2)])
def test_each_rank_sets_its_own_gpu_before_joining_nccl(monkeypatch, calls, rank, local_rank):
    _as_rank(monkeypatch, rank, local_rank)
    env = distributed.setup_distributed("auto")
    gpu = torch.device("cuda", local_rank)
    assert calls == [("set_device", gpu), ("init", "nccl", gpu)]
    assert (env.rank, env.world, env.local_rank) == (rank, 4, local_rank)


def test_a_cpu_run_on_a_gpu_node_joins_gloo_and_leaves_the_gpus_alone(monkeypatch, calls):
    _as_rank(monkeypatch, 1, 1)
    distributed.setup_distributed("cpu")
    assert calls == [("init", "gloo", None)]


def test_more_processes_than_gpus_is_refused_before_joining(monkeypatch, calls):
    _as_rank(monkeypatch, 4, 4)
    with pytest.raises(RuntimeError, match=r"LOCAL_RANK=4 wants cuda:4, but this node has 4 GPUs"):
        distributed.setup_distributed("auto")
    assert calls == []


def test_one_process_joins_nothing(monkeypatch, calls):
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.setup_distributed("auto").world == 1
    assert calls == []
