"""Checkpoints: atomic writes, resume, and loading a trained policy from disk alone.

A run directory holds::

    config.json            {"algo": ..., "config": {...}}  (written when the run starts)
    latest                 name of the newest complete checkpoint
    ckpt-00000120/         one checkpoint (the iteration number in the name)
        state.npz          the trainer's state, leaf by leaf ("['params']['policy']..." keys)
        params.npz         the policy's parameters ("policy/params/Dense_0/kernel" keys)
        meta.json          {"iteration", "step", "wall_s"}
        config.json        the run's config again, so the folder stands alone

A checkpoint is written into a temporary folder beside the others and renamed
into place (``os.replace``, atomic), then ``latest`` is replaced the same way:
a crash at any point leaves the previous checkpoint loadable, and stray
``.tmp-*`` folders are ignored (and cleaned up by the next write).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

KEEP = 2  # checkpoints kept in a run directory (the newest ones)


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the run's files from other users
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_config(run_dir: str | os.PathLike, algo: str, config: Any) -> None:
    """Writes ``run_dir/config.json`` (``config`` is a trainer's Config)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(run_dir / "config.json", json.dumps({"algo": algo, "config": config.to_dict()}, indent=1))


def read_config(path: str | os.PathLike) -> tuple[str, Any]:
    """``(algo, Config)`` from the ``config.json`` in ``path`` (a run or checkpoint folder)."""
    file = Path(path) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found: {path} is not a tumble run or checkpoint folder")
    data = json.loads(file.read_text())
    return data["algo"], trainer_module(data["algo"]).Config.from_dict(data["config"])


def trainer_module(algo: str):
    """The module ``tumble.train.<algo>``."""
    if algo not in ("ppo", "sac", "apg", "es"):
        raise ValueError(f"unknown algorithm {algo!r}; choose one of ppo, sac, apg, es")
    return importlib.import_module(f"tumble.train.{algo}")


def _flatten(tree: Any) -> dict[str, np.ndarray]:
    """Host copies of ``tree``'s leaves by key path (leaves sharded across hosts are left out)."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        value = to_host(leaf)
        if value is not None:
            out[jax.tree_util.keystr(path)] = value
    return out


def to_host(x: Any) -> np.ndarray | None:
    """A numpy copy of ``x``; None for an array sharded over several hosts (not all here)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        if not x.sharding.is_fully_replicated:
            return None
        x = x.addressable_data(0)
    return np.asarray(x)


def _nested_keys(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_nested_keys(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = np.asarray(v)
    return out


def _unnest(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        *parents, last = key.split("/")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return tree


def save(run_dir: str | os.PathLike, state: Any, params: dict, meta: dict, algo: str, config: Any) -> Path:
    """Writes a checkpoint of trainer ``state`` and policy ``params`` (nested dicts) atomically; returns its folder."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{int(meta['iteration']):08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=run_dir))
    os.chmod(tmp, 0o755)
    np.savez(tmp / "state.npz", **_flatten(state))
    np.savez(tmp / "params.npz", **_nested_keys(jax.tree.map(to_host, params)))
    (tmp / "meta.json").write_text(json.dumps(meta))
    (tmp / "config.json").write_text(json.dumps({"algo": algo, "config": config.to_dict()}, indent=1))
    final = run_dir / name
    if final.exists():  # rewritten at the same iteration: the pointer moves back below
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_text_atomic(run_dir / "latest", name)
    _prune(run_dir, keep=name)
    return final


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ("meta.json", "state.npz", "params.npz", "config.json"))


def _prune(run_dir: Path, keep: str) -> None:
    done = sorted(p for p in run_dir.glob("ckpt-*") if _complete(p))
    for old in done[:-KEEP]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in run_dir.glob(".tmp-ckpt-*"):
        shutil.rmtree(tmp, ignore_errors=True)


def latest(path: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder in run folder ``path`` (or ``path`` itself if it is one)."""
    path = Path(path)
    if _complete(path):
        return path
    pointer = path / "latest"
    if pointer.is_file() and _complete(path / pointer.read_text().strip()):
        return path / pointer.read_text().strip()
    done = sorted(p for p in path.glob("ckpt-*") if _complete(p))
    return done[-1] if done else None


def _require(path: str | os.PathLike) -> Path:
    found = latest(path)
    if found is None:
        raise FileNotFoundError(f"no complete checkpoint in {path} (expected ckpt-*/ folders written by tumble train)")
    return found


def read_meta(path: str | os.PathLike) -> dict:
    """``{"iteration", "step", "wall_s"}`` of the latest checkpoint in ``path``."""
    return json.loads((_require(path) / "meta.json").read_text())


def restore_state(path: str | os.PathLike, template: Any) -> tuple[Any, dict]:
    """``(state, meta)``: ``template`` (the trainer's fresh state) with the saved leaves of the latest checkpoint.

    Leaves the checkpoint lacks (state sharded over hosts) keep the template's
    values; a saved leaf of another shape means another config: an error.
    """
    folder = _require(path)
    saved = np.load(folder / "state.npz")
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for key_path, leaf in leaves:
        key = jax.tree_util.keystr(key_path)
        if key not in saved:
            out.append(leaf)
            continue
        value = saved[key]
        if value.shape != leaf.shape:
            raise ValueError(
                f"checkpoint {folder} holds {key} of shape {value.shape}, this run expects {leaf.shape}: "
                "resume with the config the run was started with"
            )
        out.append(value.astype(leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, out), read_meta(folder)


def load_params(path: str | os.PathLike) -> dict:
    """The policy parameters (nested dicts of numpy arrays) of the latest checkpoint in ``path``."""
    with np.load(_require(path) / "params.npz") as data:
        return _unnest({k: data[k] for k in data.files})


def load_policy(ckpt_dir: str | os.PathLike):
    """``(env, policy)`` from a run or checkpoint folder alone.

    ``env`` is the registered environment the run trained on, inside the
    ``EpisodeWrapper`` of its episode length and action repeat (so one
    ``env.step`` is one policy decision); ``policy(obs, key) -> action`` maps one
    unbatched observation ``(observation_size,)`` to an action
    ``(action_size,)``: deterministic (``key`` is unused), jittable.
    """
    import tumble.envs
    from tumble.envs.wrappers import EpisodeWrapper

    folder = _require(ckpt_dir)
    algo, config = read_config(folder)
    if not config.env:
        raise ValueError(f"{folder}/config.json names no environment; load_params() still gives the parameters")
    env = tumble.envs.make(config.env)
    make_policy = trainer_module(algo).policy_factory(env.observation_size, env.action_size, config)
    policy = make_policy(load_params(folder), deterministic=True)
    return EpisodeWrapper(env, config.episode_length, config.action_repeat), policy
