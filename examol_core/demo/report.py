"""The demo's report: ``report.md`` with PNG plots and ``results.json`` (steering side).

Plots are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas, never through
``pyplot``, so that no display and no global backend state are needed.
"""
from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from examol_core.demo.campaign import CHEAP, LOWER, TOP, CampaignResult, DemoError, acquisition_label
from examol_core.simulator import recipe_key

__all__ = ['check_plotting', 'write_report', 'overlap_seconds', 'FILES']

FILES = {'report': 'report.md', 'results': 'results.json', 'best_found': 'best-found.png', 'parity': 'parity.png',
         'timeline': 'timeline.png'}
"""Names of the files :func:`write_report` writes."""

COLORS = {'multi': '#1f77b4', 'single': '#ff7f0e', 'random': '#7f7f7f'}
STYLES = {'multi': ('o', '-'), 'single': ('s', '--'), 'random': ('^', ':')}
TOPIC_LABELS = {'simulate': 'xTB simulation', 'train': 'training', 'score': 'inference'}


def check_plotting() -> None:
    """Fail before the campaign, rather than after it, if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise DemoError('The demo report needs matplotlib: pip install "examol-core[demo]"') from None


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120, layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def overlap_seconds(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Time during which at least one interval of ``a`` and one of ``b`` are open at once."""
    total = 0.
    ua, ub = _union(a), _union(b)
    i = j = 0
    while i < len(ua) and j < len(ub):
        start, end = max(ua[i][0], ub[j][0]), min(ua[i][1], ub[j][1])
        total += max(0., end - start)
        if ua[i][1] < ub[j][1]:
            i += 1
        else:
            j += 1
    return total


def _fmt(value: float | None, digits: int = 3) -> str:
    return '–' if value is None else f'{value:.{digits}f}'


def _learners(result: CampaignResult) -> list[Any]:
    return [s for s in result.strategies if s.learner is not None]


# Plots ----------------------------------------------------------------------------------------

def _top_set(result: CampaignResult) -> tuple[int, set[str]]:
    """The pool's top molecules (at least 10, or 1 %) by the hidden top-level value."""
    count = max(10, len(result.pool_top) // 100)
    ranked = sorted(zip(result.pool_top, result.pool_smiles, strict=True), reverse=True)[:count]
    return count, {smiles for _, smiles in ranked}


def found_per_round(result: CampaignResult, strategy: Any) -> list[int]:
    """How many of the pool's top molecules a strategy knows after each round (seed set included)."""
    _, top = _top_set(result)
    known = set(result.seed_smiles)
    counts = []
    for h in strategy.history:
        known |= set(h.acquired)
        counts.append(len(top & known))
    return counts


def plot_best_found(result: CampaignResult, path: Path) -> None:
    fig = _figure(10, 4.2)
    ax, ax_top = fig.subplots(1, 2)
    count, _ = _top_set(result)
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
    learners = _learners(result)
    true = np.array(result.test_true)
    fig = _figure(4.2 * len(learners), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(learners), sharex=True, sharey=True))
    predictions = [np.array(s.test_mean) for s in learners]
    low = min(true.min(), *(p.min() for p in predictions)) - 0.2
    high = max(true.max(), *(p.max() for p in predictions)) + 0.2
    for ax, strategy, pred in zip(axes, learners, predictions, strict=True):
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


# Markdown -------------------------------------------------------------------------------------

def _ranks(result: CampaignResult) -> dict[str, int]:
    order = sorted(result.pool_top, reverse=True)
    return {s.key: order.index(s.history[-1].best) + 1 if s.history[-1].best in order else 0 for s in result.strategies}


def _task_table(result: CampaignResult) -> tuple[list[str], dict[str, float]]:
    lines = ['| tasks | count | failed | worker time (s) | mean per task (s) |', '|---|---|---|---|---|']
    totals: dict[str, float] = {}
    for topic in ('simulate', 'train', 'score'):
        tasks = [t for t in result.tasks if t.topic == topic]
        busy = sum(t.running for t in tasks)
        totals[topic] = busy
        mean = busy / len(tasks) if tasks else 0.
        lines.append(f'| {TOPIC_LABELS[topic]} (`{topic}`) | {len(tasks)} | {sum(not t.success for t in tasks)} | '
                     f'{busy:.1f} | {mean:.2f} |')
    return lines, totals


def _markdown(result: CampaignResult, files: dict[str, str], command: str) -> str:
    s = result.settings
    learners = _learners(result)
    pool_best = max(result.pool_top)
    pool_best_smiles = result.pool_smiles[result.pool_top.index(pool_best)]
    acq = acquisition_label(s)
    acq_detail = acquisition_label(s, detailed=True)
    out: list[str] = []
    add = out.append
    total = result.timings['total']
    add('# examol demo: active learning of oxidation potentials')
    add('')
    add(f'*Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` in '
        f'{total // 60:.0f} min {total % 60:.0f} s.*')
    add('')
    add('## Setup')
    add('')
    add(f'* **Objective**: find molecules with the highest `{recipe_key(TOP)}` (eV; higher = more stable to '
        'oxidation), from the project\'s multi-fidelity data set (`examol_core/data/redoxmers-oxidation.jsonl.gz`, '
        'see its card).')
    add(f'* **What is known at the start**: the cheap level `{CHEAP.level}` for every molecule; '
        f'`{LOWER[1].level}` and `{TOP.level}` for a seed set of {s.seed_size} molecules only (the same for every '
        'strategy). The stored values of the other molecules are hidden and revealed only by running their xTB '
        f'simulations again, as tasks (simulator plugin `{s.simulator}`: GFN2 relaxation of the neutral from the '
        'GFN1 minimum, cation single point, cation relaxation).')
    add(f'* **Molecules**: {len(result.pool_top)} candidates (seed included), {len(result.test_true)} held out for '
        f'accuracy (never acquired); split with random seed {s.random_seed}.')
    add(f'* **Campaign**: {s.rounds} rounds of {s.batch_size} molecules per strategy. A learning round trains a '
        f'bootstrap ensemble of {s.ensemble_size} `{s.scorer}/{s.model}` models (one task per member), scores the '
        f'candidates and the held-out molecules in chunks of {s.chunk_size} (one task per chunk), picks the batch '
        f'by {acq_detail} on the ensemble mean and standard deviation, and simulates it (one task per molecule).')
    add('* **Strategies**, run side by side by one Colmena thinker on one task server:')
    add(f'  * *multi-fidelity {acq}*: learns `{CHEAP.level}` and the deltas to `{LOWER[1].level}` and '
        f'`{TOP.level}` from every candidate (each level from the molecules that know it); predictions use the '
        f'known `{CHEAP.level}` of each molecule (delta learning, `examol_core.multifi`).')
    add(f'  * *single-fidelity {acq}*: learns `{TOP.level}` from the labelled molecules alone.')
    add('  * *random*: picks each batch uniformly among the candidates not yet simulated.')
    server = 'Colmena LocalTaskServer, one worker thread' if s.local else (
        'Parsl with the given configuration' if s.parsl_config else
        f'Parsl HighThroughputExecutor, {s.workers} local worker process(es)')
    add(f'* **Task server**: {server}; topics `train`, `score` (learning) and `simulate`, each with its own '
        'result processor; a molecule picked by several strategies is simulated once.')
    add('')

    add('## Best molecule found per round')
    add('')
    add(f'![best found per round]({files["best_found"]})')
    add('')
    header = '| round | ' + ' | '.join(st.label for st in result.strategies) + ' |'
    add(header)
    add('|---' * (len(result.strategies) + 1) + '|')
    for r in range(s.rounds + 1):
        cells = []
        for strategy in result.strategies:
            h = strategy.history[r] if r < len(strategy.history) else None
            cells.append('–' if h is None else f'{h.best:.3f} ({h.labelled})')
        add(f'| {r} | ' + ' | '.join(cells) + ' |')
    add('')
    add('Best `gfn2-adiabatic` value found so far (eV), with the number of molecules known at that level in '
        'brackets; round 0 is the seed set.')
    add('')
    ranks = _ranks(result)
    top_n, _ = _top_set(result)
    found = {st.key: found_per_round(result, st)[-1] for st in result.strategies}
    add(f'| strategy | best found (eV) | molecule | rank in the pool | of the pool\'s top {top_n} found | '
        'failed simulations |')
    add('|---|---|---|---|---|---|')
    for strategy in result.strategies:
        last = strategy.history[-1]
        add(f'| {strategy.label} | {last.best:.3f} | `{last.best_smiles}` | {ranks[strategy.key]} of '
            f'{len(result.pool_top)} | {found[strategy.key]} | {len(strategy.failed)} |')
    add('')
    add(f'The best candidate in the pool (hidden at the start) is `{pool_best_smiles}` at {pool_best:.3f} eV.')
    add('')

    add('## Accuracy on the held-out molecules')
    add('')
    add(f'![parity plot]({files["parity"]})')
    add('')
    add('| round | ' + ' | '.join(f'MAE {st.label} (eV)' for st in learners) + ' |')
    add('|---' * (len(learners) + 1) + '|')
    for r in range(s.rounds + 1):
        add(f'| {r} | ' + ' | '.join(_fmt(st.history[r].mae if r < len(st.history) else None) for st in learners)
            + ' |')
    add('')
    final = {st.key: st.final_mae for st in learners}
    true = np.array(result.test_true)
    baseline = np.array(result.test_cheap) + result.baseline_offset
    baseline_mae = float(np.mean(np.abs(baseline - true)))
    add(f'Mean absolute error of the `{TOP.level}` prediction on {len(true)} held-out molecules (the ensemble '
        'mean), by the models trained on what each strategy knew after each round; the last row is the '
        'parity plot. '
        f'Final: **multi-fidelity {_fmt(final.get("multi"))} eV**, **single-fidelity {_fmt(final.get("single"))} '
        f'eV** (spread of the true values: standard deviation {np.std(true):.3f} eV). For reference, '
        f'`{CHEAP.level}` shifted by its mean offset on the seed set ({result.baseline_offset:+.3f} eV) has an '
        f'MAE of {baseline_mae:.3f} eV: the multi-fidelity model starts from that and learns the corrections.')
    add('')

    add('## Simulations')
    add('')
    checks = result.checks
    selections = sum(len(h.acquired) for st in result.strategies for h in st.history)
    sim_tasks = [t for t in result.tasks if t.topic == 'simulate']
    shared = selections - len(checks) - len(result.simulation_failures)
    add(f'* {len(checks) + len(result.simulation_failures)} molecules simulated ({len(sim_tasks)} tasks) for '
        f'{selections} selections: {shared} selection{"s were" if shared != 1 else " was"} '
        'served by another strategy\'s simulation.')
    if checks:
        worst = max(checks, key=lambda c: c.max_abs_diff)
        mean_runtime = float(np.mean([c.runtime for c in checks]))
        add(f'* Agreement with the stored data set: largest |difference| {worst.max_abs_diff:.2e} eV over both '
            f'levels (`{worst.smiles}`); mean time per molecule on a worker {mean_runtime:.2f} s.')
    if result.simulation_failures:
        add(f'* Failed ({len(result.simulation_failures)}), counted as acquired with no value:')
        for smiles, reason in result.simulation_failures.items():
            add(f'  * `{smiles}`: {reason}')
    else:
        add('* No simulation failed.')
    add('')

    add('## Timings')
    add('')
    add(f'![task timeline]({files["timeline"]})')
    add('')
    lines, busy = _task_table(result)
    out.extend(lines)
    add('')
    t = result.timings
    learning = busy['train'] + busy['score']
    sims = [(x.started, x.ended) for x in result.tasks if x.topic == 'simulate']
    learn = [(x.started, x.ended) for x in result.tasks if x.topic in ('train', 'score')]
    overlap = overlap_seconds(sims, learn)
    campaign = t['campaign']
    active = max((x.ended for x in result.tasks), default=0.) - min((x.started for x in result.tasks), default=0.)
    workers = 1 if s.local else s.workers
    add(f'* Wall time: **{t["total"]:.1f} s** in total: loading and splitting the data {t["data"]:.1f} s, '
        f'task server start-up until the first task ran on a worker {t["first_task_started"]:.1f} s, campaign '
        f'(thinker started to last result) {campaign:.1f} s.')
    add(f'* Worker time: {busy["simulate"]:.1f} s in simulation, {learning:.1f} s in learning '
        f'({busy["train"]:.1f} s training, {busy["score"]:.1f} s inference); from the first task to the last '
        f'({active:.1f} s) the {workers} worker(s) were busy '
        f'{100 * (busy["simulate"] + learning) / max(active * workers, 1e-9):.0f} % of the time.')
    add(f'* Simulation and learning tasks ran at the same time during {overlap:.1f} s '
        f'({100 * overlap / max(active, 1e-9):.0f} % of that time).')
    add('* Versions: ' + ', '.join(f'{k} {v}' for k, v in result.versions.items()) + '.')
    add('')
    add('## Reproduce')
    add('')
    add('```bash')
    add(command)
    add('```')
    add('')
    add(f'Every number above is in `{files["results"]}` (per-round selections and values, predictions, tasks).')
    add('')
    return '\n'.join(out)


def write_report(result: CampaignResult, output_dir: str | Path, command: str | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``results.json`` and the plots into ``output_dir``.

    Returns:
        Name → path of each file written (keys of :data:`FILES`).
    """
    check_plotting()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: output_dir / file for name, file in FILES.items()}
    if command is None:
        command = 'examol ' + ' '.join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else 'examol demo'
    with open(paths['results'], 'w', encoding='utf-8') as fp:
        json.dump(result.to_json(), fp, indent=1)
    plot_best_found(result, paths['best_found'])
    plot_parity(result, paths['parity'])
    plot_timeline(result, paths['timeline'])
    paths['report'].write_text(_markdown(result, FILES, command), encoding='utf-8')
    return paths
