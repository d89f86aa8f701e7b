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
from examol_demo.settings import CHEAP, LOWER, TOP, DemoError

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


def _markdown(result: CampaignResult, files: dict[str, str], command: str) -> str:
    s, t, strategies, trained = result.settings, result.timings, result.strategies, learners(result)
    acq = s.acquisition.upper()
    acq_detail = f'UCB (mean + {s.beta:g} × std)' if s.acquisition == 'ucb' else 'EI (expected improvement over the best known)'
    pool_best = max(result.pool_top)
    server = f'Colmena LocalTaskServer, {s.workers} worker thread(s)' if s.local else (
        'Parsl with the given configuration' if s.parsl_config else
        f'Parsl HighThroughputExecutor, {s.workers} local worker process(es)')
    out = [
        '# examol demo: active learning of oxidation potentials', '',
        f'*Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` in '
        f'{t["total"] // 60:.0f} min {t["total"] % 60:.0f} s.*', '', '## Setup', '',
        f'* **Objective**: find molecules with the highest `{TOP.spec}` (eV; higher = more stable to '
        'oxidation), from the project\'s multi-fidelity data set (`examol_core/data/redoxmers-oxidation.jsonl.gz`, '
        'see its card).',
        f'* **What is known at the start**: the cheap level `{CHEAP.level}` for every molecule; '
        f'`{LOWER[1].level}` and `{TOP.level}` for a seed set of {s.seed_size} molecules only (the same for every '
        'strategy). The stored values of the other molecules are hidden and revealed only by running their xTB '
        f'simulations again, as tasks (simulator plugin `{s.simulator}`: GFN2 relaxation of the neutral from the '
        'GFN1 minimum, cation single point, cation relaxation).',
        f'* **Molecules**: {len(result.pool_top)} candidates (seed included), {len(result.test_true)} held out for '
        f'accuracy (never acquired); split with random seed {s.random_seed}.',
        f'* **Campaign**: {s.rounds} rounds of {s.batch_size} molecules per strategy. A learning round trains a '
        f'bootstrap ensemble of {s.ensemble_size} `{s.scorer}/{s.model}` models (one task per member), scores the '
        f'candidates and the held-out molecules in chunks of {s.chunk_size} (one task per chunk), picks the batch '
        f'by {acq_detail} on the ensemble mean and standard deviation, and simulates it (one task per molecule).',
        '* **Strategies**, run side by side by one Colmena thinker on one task server:',
        f'  * *multi-fidelity {acq}*: learns `{CHEAP.level}` and the deltas to `{LOWER[1].level}` and '
        f'`{TOP.level}` from every candidate (each level from the molecules that know it); predictions use the '
        f'known `{CHEAP.level}` of each molecule (delta learning, `examol_core.multifi`).',
        f'  * *single-fidelity {acq}*: learns `{TOP.level}` from the labelled molecules alone.',
        '  * *random*: picks each batch uniformly among the candidates not yet simulated.',
        f'* **Task server**: {server}; topics `train`, `score` (learning) and `simulate`, each with its own '
        'result processor; a molecule picked by several strategies is simulated once.', '',
        '## Best molecule found per round', '', f'![best found per round]({files["best_found"]})', '',
        '| round | ' + ' | '.join(st.label for st in strategies) + ' |', '|---' * (len(strategies) + 1) + '|']
    for r in range(s.rounds + 1):
        out.append(f'| {r} | ' + ' | '.join(f'{st.history[r].best:.3f} ({st.history[r].labelled})'
                                            if r < len(st.history) else '–' for st in strategies) + ' |')
    order = sorted(result.pool_top, reverse=True)
    top_n, _ = top_set(result)
    out += ['', 'Best `gfn2-adiabatic` value found so far (eV), with the number of molecules known at that level in '
            'brackets; round 0 is the seed set.', '',
            f'| strategy | best found (eV) | molecule | rank in the pool | of the pool\'s top {top_n} found | '
            'failed simulations |', '|---|---|---|---|---|---|']
    for st in strategies:
        last = st.history[-1]
        rank = order.index(last.best) + 1 if last.best in order else 0
        out.append(f'| {st.label} | {last.best:.3f} | `{last.best_smiles}` | {rank} of {len(order)} | '
                   f'{found_per_round(result, st)[-1]} | {len(st.failed)} |')
    true = np.array(result.test_true)
    baseline_mae = float(np.mean(np.abs(np.array(result.test_cheap) + result.baseline_offset - true)))
    final = {st.key: st.final_mae for st in trained}
    out += ['', f'The best candidate in the pool (hidden at the start) is '
            f'`{result.pool_smiles[result.pool_top.index(pool_best)]}` at {pool_best:.3f} eV.', '',
            '## Accuracy on the held-out molecules', '', f'![parity plot]({files["parity"]})', '',
            '| round | ' + ' | '.join(f'MAE {st.label} (eV)' for st in trained) + ' |', '|---' * (len(trained) + 1) + '|']
    for r in range(s.rounds + 1):
        out.append(f'| {r} | ' + ' | '.join(_fmt(st.history[r].mae if r < len(st.history) else None)
                                            for st in trained) + ' |')
    checks, failures = result.checks, result.simulation_failures
    selections = sum(len(h.acquired) for st in strategies for h in st.history)
    shared = selections - len(checks) - len(failures)
    out += ['', f'Mean absolute error of the `{TOP.level}` prediction on {len(true)} held-out molecules (the ensemble '
            'mean), by the models trained on what each strategy knew after each round; the last row is the '
            f'parity plot. Final: **multi-fidelity {_fmt(final.get("multi"))} eV**, **single-fidelity '
            f'{_fmt(final.get("single"))} eV** (spread of the true values: standard deviation {np.std(true):.3f} eV). '
            f'For reference, `{CHEAP.level}` shifted by its mean offset on the seed set ({result.baseline_offset:+.3f} '
            f'eV) has an MAE of {baseline_mae:.3f} eV: the multi-fidelity model starts from that and learns the '
            'corrections.', '', '## Simulations', '',
            f'* {len(checks) + len(failures)} molecules simulated ({sum(t.topic == "simulate" for t in result.tasks)} '
            f'tasks) for {selections} selections: {shared} selection{"s were" if shared != 1 else " was"} '
            'served by another strategy\'s simulation.']
    if checks:
        worst = max(checks, key=lambda c: c.max_abs_diff)
        out.append(f'* Agreement with the stored data set: largest |difference| {worst.max_abs_diff:.2e} eV over '
                   f'both levels (`{worst.smiles}`); mean time per molecule on a worker '
                   f'{np.mean([c.runtime for c in checks]):.2f} s.')
    if failures:
        out.append(f'* Failed ({len(failures)}), counted as acquired with no value:')
        out += [f'  * `{smiles}`: {reason}' for smiles, reason in failures.items()]
    else:
        out.append('* No simulation failed.')
    out += ['', '## Timings', '', f'![task timeline]({files["timeline"]})', '',
            '| tasks | count | failed | worker time (s) | mean per task (s) |', '|---|---|---|---|---|']
    busy = {}
    for topic in ('simulate', 'train', 'score'):
        tasks = [x for x in result.tasks if x.topic == topic]
        busy[topic] = sum(x.running for x in tasks)
        out.append(f'| {TOPIC_LABELS[topic]} (`{topic}`) | {len(tasks)} | {sum(not x.success for x in tasks)} | '
                   f'{busy[topic]:.1f} | {busy[topic] / max(len(tasks), 1):.2f} |')
    learning = busy['train'] + busy['score']
    overlap = overlap_seconds([(x.started, x.ended) for x in result.tasks if x.topic == 'simulate'],
                              [(x.started, x.ended) for x in result.tasks if x.topic != 'simulate'])
    active = max((x.ended for x in result.tasks), default=0.) - min((x.started for x in result.tasks), default=0.)
    out += ['', f'* Wall time: **{t["total"]:.1f} s** in total: loading and splitting the data {t["data"]:.1f} s, '
            f'task server start-up until the first task ran on a worker {t["first_task_started"]:.1f} s, campaign '
            f'(thinker started to last result) {t["campaign"]:.1f} s.',
            f'* Worker time: {busy["simulate"]:.1f} s in simulation, {learning:.1f} s in learning '
            f'({busy["train"]:.1f} s training, {busy["score"]:.1f} s inference); from the first task to the last '
            f'({active:.1f} s) the {s.workers} worker(s) were busy '
            f'{100 * (busy["simulate"] + learning) / max(active * s.workers, 1e-9):.0f} % of the time.',
            f'* Simulation and learning tasks ran at the same time during {overlap:.1f} s '
            f'({100 * overlap / max(active, 1e-9):.0f} % of that time).',
            '* Versions: ' + ', '.join(f'{k} {v}' for k, v in result.versions.items()) + '.', '',
            '## Reproduce', '', '```bash', command, '```', '',
            f'Every number above is in `{files["results"]}` (per-round selections and values, predictions, tasks).', '']
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
