"""Finished runs reused only when they are what is asked for: the config that made them (less
where it ran and how it reported) and a digest of the data's annotation files must match.

``reusable(cfg)`` says whether ``cfg.run_dir`` holds a finished run of ``cfg``; ``remember(cfg)``
records the key after a run. ``matches`` / ``write_key`` do the same for any artifact folder and
key (the landmark network's). A run folder that holds another config's run is trained afresh
(never resumed: its state belongs to the other config)."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path

from s2d_lib.config import TrainConfig, load_config

__all__ = ["KEY_FILE", "VOLATILE", "PLACES", "data_digest", "run_key", "reusable", "afresh", "remember", "matches",
           "write_key"]

log = logging.getLogger(__name__)

KEY_FILE = "cache_key.json"
#: Config fields that change where or how a run reports, not what it trains.
VOLATILE = ("progress", "device", "resume", "workers")
#: Config fields that say where things are: a run is keyed by what they hold (the data's
#: digest, the starting files' SHA-256), not by their paths, so a moved checkout keeps its runs.
PLACES = ("data_root", "out_dir", "cache_dir", "init", "landmark_weights")
#: Config fields added after runs were first keyed, left out of the key at their defaults so
#: that those runs are still recognised.
LATER_FIELDS = {"layer_decay": None, "tma_qk_std": None}
#: Annotation files sit at most this deep under a dataset's root (frame folders lie deeper).
_ANNOTATION_DEPTH = 3


def data_digest(root: str | Path) -> str:
    """SHA-256 of the dataset's annotation and stamp files (``.csv``, ``.txt``, ``.json``) up to
    three folders deep: what says which samples, labels and splits there are."""
    root = Path(root)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and p.suffix in (".csv", ".txt", ".json")
                   and len(p.relative_to(root).parts) <= _ANNOTATION_DEPTH)
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _trained(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in VOLATILE + PLACES
            and not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


def _file_key(value: str | None) -> str | None:
    """A starting file by its content (``none``/``scratch`` and missing files by their value)."""
    from ..paths import file_sha256

    return file_sha256(value) if value and Path(value).is_file() else value


def run_key(cfg: TrainConfig, data_root: str | Path | None = None) -> dict:
    """What a finished run of ``cfg`` is keyed by: its config less where things are, its data's
    digest (of ``data_root``, default ``cfg``'s) and the content of its starting files."""
    key = {"config": _trained(cfg.to_dict()), "data": data_digest(data_root or cfg.data_root),
           "init": _file_key(cfg.init), "landmark_weights": _file_key(cfg.landmark_weights)}
    if cfg.vit_weights is not None:  # a starting file too: keyed by its content as well
        key["vit_weights"] = _file_key(cfg.vit_weights)
    return key


def reusable(cfg: TrainConfig) -> bool:
    """``cfg.run_dir`` holds a finished run (``results.json``) made by ``cfg`` from the same data.
    A mismatch is logged with the first differing fields."""
    run = cfg.run_dir
    if not (run / "results.json").is_file():
        return False
    key_file = run / KEY_FILE
    if key_file.is_file():
        saved = json.loads(key_file.read_text())
    elif (run / "config.yaml").is_file():  # a run finished before keys were recorded
        saved = _key_of_config_file(run / "config.yaml", cfg.data_root)
    else:
        saved = {}
    wanted = json.loads(json.dumps(run_key(cfg)))
    if saved == wanted:
        return True
    fields = sorted(k for k in wanted["config"] if saved.get("config", {}).get(k) != wanted["config"][k])
    log.warning("%s holds a run of another config or data (%s): training it again", run,
                ", ".join(fields[:5]) or "data")
    return False


def _key_of_config_file(path: Path, data_root: str | Path) -> dict:
    """The key of a run from its ``config.yaml`` alone. A field the file lacks (one added to the
    config after the run) is marked absent rather than given today's default: the run did not
    train with a value of it, so it cannot match a config that names one."""
    import yaml

    written = yaml.safe_load(path.read_text()) or {}
    key = run_key(load_config(path), data_root)
    for field in key["config"]:
        if field not in written:
            key["config"][field] = "<absent from the run's config.yaml>"
    return key


def afresh(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` to train ``cfg.run_dir`` afresh: its saved state is not resumed, and its old results
    and key are dropped first, so that a run interrupted on the way cannot leave the old results
    beside the new ``config.yaml``."""
    for name in ("results.json", KEY_FILE):
        (cfg.run_dir / name).unlink(missing_ok=True)
    return replace(cfg, resume=False)


def remember(cfg: TrainConfig) -> None:
    """Record the key of the run ``cfg`` just finished in its folder."""
    (cfg.run_dir / KEY_FILE).write_text(json.dumps(run_key(cfg), indent=1))


def matches(folder: Path, key: dict) -> bool:
    """``folder`` holds the key ``key`` (as :func:`write_key` wrote it); a mismatch is logged."""
    path = Path(folder) / KEY_FILE
    if not path.is_file():
        return False
    if json.loads(path.read_text()) == json.loads(json.dumps(key)):
        return True
    log.warning("%s was made from another recipe or data: making it again", folder)
    return False


def write_key(folder: Path, key: dict) -> None:
    """Record what ``folder``'s artifact was made from."""
    (Path(folder) / KEY_FILE).write_text(json.dumps(key, indent=1))
