"""The report's PNG plots: best found per round, parity on held-out molecules, task timeline.

Plots are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas, never through
``pyplot``, so that no display and no global backend state are needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from examol_demo.results import CampaignResult
from examol_demo.settings import TOP

__all__ = ['plot_best_found', 'plot_parity', 'plot_timeline', 'found_per_round', 'top_set', 'learners', 'COLORS',
           'TOPIC_LABELS']

COLORS = {'multi': '#1f77b4', 'single': '#ff7f0e', 'random': '#7f7f7f'}
STYLES = {'multi': ('o', '-'), 'single': ('s', '--'), 'random': ('^', ':')}
TOPIC_LABELS = {'simulate': 'xTB simulation', 'train': 'training', 'score': 'inference'}


def learners(result: CampaignResult) -> list[Any]:
    """The strategies that train models."""
    return [s for s in result.strategies if s.learner is not None]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120, layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def top_set(result: CampaignResult) -> tuple[int, set[str]]:
    """The pool's top molecules (at least 10, or 1 %) by the hidden top-level value."""
    count = max(10, len(result.pool_top) // 100)
    ranked = sorted(zip(result.pool_top, result.pool_smiles, strict=True), reverse=True)[:count]
    return count, {smiles for _, smiles in ranked}


def found_per_round(result: CampaignResult, strategy: Any) -> list[int]:
    """How many of the pool's top molecules a strategy knows after each round (seed set included)."""
    _, top = top_set(result)
    known = set(result.seed_smiles)
    counts = []
    for h in strategy.history:
        known |= set(h.acquired)
        counts.append(len(top & known))
    return counts


def plot_best_found(result: CampaignResult, path: Path) -> None:
    fig = _figure(10, 4.2)
    ax, ax_top = fig.subplots(1, 2)
    count, _ = top_set(result)
    for strategy in result.strategies:
        rounds = [h.round for h in strategy.history]
        marker, line = STYLES.get(strategy.key, ('o', '-'))
        style = {'marker': marker, 'linestyle': line, 'label': strategy.label, 'color': COLORS.get(strategy.key),
                 'markersize': 5, 'where': 'post'}
        ax.step(rounds, [h.best for h in strategy.history], **style)
        ax_top.step(rounds, found_per_round(result, strategy), **style)
    ax.axhline(max(result.pool_top), color='k', linestyle='--', linewidth=1, label='best in the pool (hidden)')
    ax.set_ylabel(f'best {TOP.level} oxidation potential found (eV)')
    ax.set_title('Best molecule found per round', fontsize=11)
    ax.legend(loc='lower right', fontsize=8)
    ax_top.axhline(count, color='k', linestyle='--', linewidth=1)
    ax_top.set_ylim(-0.3, count + 0.6)
    ax_top.set_ylabel(f'of the pool\'s top {count} molecules found')
    ax_top.set_title(f'Top {count} of {len(result.pool_top)} candidates found per round', fontsize=11)
    for axis in (ax, ax_top):
        axis.set_xlabel(f'round (batches of {result.settings.batch_size} molecules; 0 = seed set)')
        axis.set_xticks(range(result.settings.rounds + 1))
        axis.grid(alpha=0.3)
    fig.savefig(path)


def plot_parity(result: CampaignResult, path: Path) -> None:
    trained = learners(result)
    true = np.array(result.test_true)
    fig = _figure(4.2 * len(trained), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(trained), sharex=True, sharey=True))
    predictions = [np.array(s.test_mean) for s in trained]
    low = min(true.min(), *(p.min() for p in predictions)) - 0.2
    high = max(true.max(), *(p.max() for p in predictions)) + 0.2
    for ax, strategy, pred in zip(axes, trained, predictions, strict=True):
        ax.errorbar(true, pred, yerr=np.array(strategy.test_std), fmt='o', markersize=3, alpha=0.6,
                    elinewidth=0.6, color=COLORS.get(strategy.key))
        ax.plot([low, high], [low, high], 'k--', linewidth=1)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect('equal')
        ax.set_title(f'{strategy.label.split(" ")[0]}\nMAE {np.mean(np.abs(pred - true)):.3f} eV '
                     f'({strategy.history[-1].labelled} labelled)', fontsize=10)
        ax.set_xlabel(f'true {TOP.level} (eV)')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('predicted (eV), ensemble mean ± std')
    fig.suptitle(f'Held-out molecules ({len(true)}), after the last round')
    fig.savefig(path)


def plot_timeline(result: CampaignResult, path: Path) -> None:
    fig = _figure(7.5, 2.8)
    ax = fig.subplots()
    rows = ['simulate', 'train', 'score']
    for y, topic in enumerate(rows):
        tasks = sorted((t for t in result.tasks if t.topic == topic), key=lambda t: t.started)
        lanes: list[float] = []  # end of the last task in each lane: tasks running at once get lanes of their own
        placed = []
        for task in tasks:
            lane = next((i for i, end in enumerate(lanes) if end <= task.started), len(lanes))
            if lane == len(lanes):
                lanes.append(0.)
            lanes[lane] = task.ended
            placed.append((task, lane))
        height = 0.8 / max(len(lanes), 1)
        for task, lane in placed:
            ax.broken_barh([(task.started, max(task.ended - task.started, 0.02))],
                           (y - 0.4 + lane * height, height * 0.9), facecolors=COLORS.get(task.strategy, 'k'),
                           alpha=0.8)
    ax.set_yticks(range(len(rows)), [TOPIC_LABELS[r] for r in rows])
    ax.set_xlabel('time since the thinker started (s)')
    ax.set_title('Tasks on the workers (tasks running at once are stacked), by strategy', fontsize=10)
    from matplotlib.patches import Patch

    labels = {s.key: s.label for s in result.strategies}
    ax.legend(handles=[Patch(color=COLORS[k], alpha=0.7, label=labels[k]) for k in COLORS], fontsize=7,
              loc='upper right', ncols=3)
    ax.set_ylim(-0.6, len(rows) - 0.4 + 0.6)
    ax.grid(axis='x', alpha=0.3)
    fig.savefig(path)
