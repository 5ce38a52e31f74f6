"""What a training run leaves in its folder besides checkpoints.

- ``metrics.jsonl``: one JSON object per evaluation (``step``, ``wall_s``,
  ``eval_reward``, the other evaluation and training metrics);
- ``tensorboard/``: the same scalars for TensorBoard (tensorboardX);
- ``reward.png``: evaluation reward against environment steps and against wall time;
- a progress bar on stderr: steps, latest evaluation reward, steps/s, ETA (tqdm).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


class RunLogger:
    """``progress_fn`` for ``tumble.train.loop.run`` that writes a run folder's logs.

    ``out``: run folder; ``total_steps``: the run's step budget (for the ETA);
    ``first_step``: where a resumed run starts; ``progress``: show the bar.
    """

    def __init__(self, out: str | os.PathLike, total_steps: int, first_step: int = 0, progress: bool = True):
        from tqdm import tqdm

        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.out / "metrics.jsonl"
        self._jsonl = open(self.metrics_path, "a")  # noqa: SIM115 - closed in close()
        self._tb = _tensorboard(self.out / "tensorboard")
        self._bar = tqdm(
            total=total_steps,
            initial=first_step,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            disable=not progress,
            file=sys.stderr,
            smoothing=0.1,
        )

    def __call__(self, step: int, metrics: dict | None) -> None:
        self._bar.update(step - self._bar.n)
        if metrics is None:
            return
        self._jsonl.write(json.dumps(metrics) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for name, value in metrics.items():
                if name != "step":
                    self._tb.add_scalar(name, value, step)
            self._tb.flush()
        self._bar.set_postfix(eval_reward=f"{metrics['eval_reward']:.1f}", refresh=True)

    def close(self) -> None:
        """Closes the bar and the logs and draws ``reward.png``."""
        self._bar.close()
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
        plot_rewards(self.metrics_path, self.out / "reward.png")


def _tensorboard(folder: Path):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        print("tumble: tensorboardX is not installed; no TensorBoard logs", file=sys.stderr)
        return None
    return SummaryWriter(str(folder))


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The evaluations in ``metrics.jsonl``, by step (a resumed run's repeats: the later line wins)."""
    rows = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["step"]] = row
    return [rows[s] for s in sorted(rows)]


def plot_rewards(metrics_path: str | os.PathLike, png_path: str | os.PathLike) -> None:
    """Draws evaluation reward against steps and against wall-clock seconds into ``png_path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_path) if Path(metrics_path).exists() else []
    steps = [r["step"] for r in rows]
    wall = [r["wall_s"] for r in rows]
    reward = [r["eval_reward"] for r in rows]
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    by_step.plot(steps, reward, marker="o")
    by_step.set_xlabel("environment steps")
    by_step.set_ylabel("eval reward")
    by_time.plot(wall, reward, marker="o")
    by_time.set_xlabel("wall-clock seconds (compilation included)")
    by_time.set_xlim(left=0)
    for ax in (by_step, by_time):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
