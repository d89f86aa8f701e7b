"""The demo's report: ``report.md`` with PNG plots (:mod:`examol_demo.plots`) and ``results.json``."""
from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from examol_demo.plots import (
    TOPIC_LABELS,
    found_per_round,
    learners,
    plot_best_found,
    plot_parity,
    plot_timeline,
    top_set,
)
from examol_demo.results import CampaignResult
from examol_demo.settings import CHEAP, LOWER, TOP, DemoError, acquisition_label

__all__ = ['check_plotting', 'write_report', 'overlap_seconds', 'FILES']

FILES = {'report': 'report.md', 'results': 'results.json', 'best_found': 'best-found.png', 'parity': 'parity.png',
         'timeline': 'timeline.png'}
"""Names of the files :func:`write_report` writes."""



def check_plotting() -> None:
    """Fail before the campaign, rather than after it, if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise DemoError('The demo report needs matplotlib: pip install matplotlib') from None


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
    trained = learners(result)
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
    add(f'* **Objective**: find molecules with the highest `{TOP.spec}` (eV; higher = more stable to '
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
    server = f'Colmena LocalTaskServer, {s.workers} worker thread(s)' if s.local else (
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
    top_n, _ = top_set(result)
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
    add('| round | ' + ' | '.join(f'MAE {st.label} (eV)' for st in trained) + ' |')
    add('|---' * (len(trained) + 1) + '|')
    for r in range(s.rounds + 1):
        add(f'| {r} | ' + ' | '.join(_fmt(st.history[r].mae if r < len(st.history) else None) for st in trained)
            + ' |')
    add('')
    final = {st.key: st.final_mae for st in trained}
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
    workers = s.workers
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
    paths['results'].write_text(result.model_dump_json(indent=1), encoding='utf-8')
    plot_best_found(result, paths['best_found'])
    plot_parity(result, paths['parity'])
    plot_timeline(result, paths['timeline'])
    paths['report'].write_text(_markdown(result, FILES, command), encoding='utf-8')
    return paths
