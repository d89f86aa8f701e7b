"""Benchmark: GFN2-xTB oxidation potentials per second, and parallel efficiency of a process pool.

For each recipe (vertical and adiabatic oxidation potential at GFN2), every molecule runs from a
bare SMILES (MMFF94 start, GFN2 relaxations, single points) in a pool of 1 and of N worker
processes, one OpenMP thread each. Parallel efficiency = rate(N) / (N × rate(1)); on a machine
shared with other work it measures the machine as much as the code, so the load average is
reported beside it. Not a timed test.

    python bench/xtb_simulation.py --quick          # 12 molecules, about 15 s
    python bench/xtb_simulation.py --molecules 60 --json bench-xtb.json
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMILES = ROOT / 'examol_core' / 'data' / 'search-space.smi'


def _init(threads: int) -> None:
    from examol_xtb import set_thread_count

    set_thread_count(threads)


def _warm(delay: float) -> int:
    """Import tblite and run one calculation, so start-up is not timed; the delay spreads warm-ups over workers."""
    from examol_xtb import XTBSimulator, compute_recipes

    from examol_core import MoleculeRecord, RedoxEnergy

    compute_recipes(MoleculeRecord.from_identifier('CCO'), [RedoxEnergy(1, 'gfn2', vertical=True)], XTBSimulator())
    time.sleep(delay)
    return os.getpid()


def _one(smiles: str, vertical: bool) -> tuple[bool, float, int]:
    from examol_xtb import XTBSimulator, compute_recipes

    from examol_core import MoleculeRecord, RedoxEnergy

    outcome = compute_recipes(MoleculeRecord.from_identifier(smiles), [RedoxEnergy(1, 'gfn2', vertical=vertical)],
                              XTBSimulator(keep_steps=False))
    return outcome.success, outcome.runtime, outcome.simulations


def measure(smiles: list[str], vertical: bool, workers: int, threads: int) -> dict:
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(threads,),
                             mp_context=multiprocessing.get_context('spawn')) as pool:
        pids = set(pool.map(_warm, [0.5] * workers))
        start = time.perf_counter()
        results = list(pool.map(_one, smiles, [vertical] * len(smiles), chunksize=1))
        wall = time.perf_counter() - start
    return {'workers': workers, 'warm_workers': len(pids), 'molecules': len(smiles),
            'succeeded': sum(r[0] for r in results), 'simulations': sum(r[2] for r in results),
            'wall_s': wall, 'molecules_per_s': len(smiles) / wall,
            'mean_s_per_molecule': sum(r[1] for r in results) / len(results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true', help='12 molecules (a smoke run)')
    parser.add_argument('--molecules', type=int, default=48, help='molecules per measurement')
    parser.add_argument('--workers', type=int, default=2, help='workers of the parallel measurement')
    parser.add_argument('--threads', type=int, default=1, help='OpenMP threads per worker')
    parser.add_argument('--json', type=Path, default=None, help='also write the results here')
    args = parser.parse_args(argv)
    n = 12 if args.quick else args.molecules

    from rich.console import Console
    from rich.table import Table

    smiles = [s.split()[0] for s in SMILES.read_text().splitlines() if s.strip()][:n]
    console = Console(width=max(Console().width, 110))
    load_before = os.getloadavg()
    rows = []
    for vertical in (True, False):
        kind = 'vertical' if vertical else 'adiabatic'
        serial = measure(smiles, vertical, 1, args.threads)
        parallel = measure(smiles, vertical, args.workers, args.threads)
        efficiency = parallel['molecules_per_s'] / (args.workers * serial['molecules_per_s'])
        rows.append({'recipe': f'oxidation_potential/gfn2-{kind}', 'serial': serial, 'parallel': parallel,
                     'parallel_efficiency': efficiency})
    load_after = os.getloadavg()

    table = Table(title=f'GFN2-xTB oxidation potentials, {n} molecules, {args.threads} thread/worker')
    for col in ('recipe', 'workers', 'molecules/s', 's/molecule in worker', 'simulations', 'failed', 'efficiency'):
        table.add_column(col)
    for row in rows:
        for key in ('serial', 'parallel'):
            m = row[key]
            table.add_row(row['recipe'].split('/')[-1], str(m['workers']), f'{m["molecules_per_s"]:.2f}',
                          f'{m["mean_s_per_molecule"]:.3f}', str(m['simulations']),
                          str(m['molecules'] - m['succeeded']),
                          f'{row["parallel_efficiency"]:.0%}' if key == 'parallel' else '')
    console.print(table)
    for row in rows:
        slowdown = row['parallel']['mean_s_per_molecule'] / row['serial']['mean_s_per_molecule']
        row['in_worker_slowdown'] = slowdown
        console.print(f'{row["recipe"]}: each molecule took {slowdown:.2f}× as long inside a worker with '
                      f'{args.workers} workers as with 1 (1.0 = no contention for cores; '
                      f'{args.workers:.1f} = the workers shared one core)')
    console.print(f'load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} '
                  f'on {os.cpu_count()} CPUs')
    if args.json:
        info = {'rows': rows, 'load_before': load_before, 'load_after': load_after, 'cpus': os.cpu_count(),
                'python': platform.python_version(),
                'versions': {d: metadata.version(d) for d in ('tblite', 'ase', 'examol-xtb')}}
        args.json.write_text(json.dumps(info, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
