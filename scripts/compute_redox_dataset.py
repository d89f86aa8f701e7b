"""Compute the multi-fidelity oxidation-potential data set with the xTB simulator.

Three levels of ``oxidation_potential`` (lowest to highest fidelity) for every molecule of a
SMILES file: ``gfn1-vertical``, ``gfn2-vertical``, ``gfn2-adiabatic``. Each molecule runs to
completion in a worker of a process pool (one OpenMP thread each by default). The records file
is rewritten atomically every few seconds, so an interrupted run resumes where it stopped:
finished molecules (including those that failed, unless ``--retry-failures``) are skipped.
At the end the data card (``README.md`` beside the records) is regenerated from the records.

Rebuild the committed data set (needs examol-core and examol-xtb installed)::

    python scripts/compute_redox_dataset.py --workers 2

Other commands::

    python scripts/compute_redox_dataset.py --limit 20 --output /tmp/trial.jsonl.gz   # a trial
    python scripts/compute_redox_dataset.py --card-only                               # rewrite the card
"""
from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import platform
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from examol_core.datasets import DATA_DIR as DATA
from examol_core.datasets import REDOX_LEVELS

SUBSET = 'redoxmers-search-space'
LEVELS = tuple(recipe.level for recipe in REDOX_LEVELS)
PROPERTY = REDOX_LEVELS[-1].name


def make_recipes():
    return list(REDOX_LEVELS)


def _init_worker(threads: int) -> None:
    from examol_xtb import set_thread_count

    set_thread_count(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and saves


def compute_one(smiles: str, record_json: str | None, simulator_options: dict) -> dict:
    """Worker: run the three recipes for one molecule; returns the record as JSON and the outcome."""
    from examol_xtb import XTBSimulator, compute_recipes

    from examol_core.records import MoleculeRecord

    start = time.perf_counter()
    try:
        record = (MoleculeRecord.model_validate_json(record_json) if record_json
                  else MoleculeRecord.from_identifier(smiles, subsets=[SUBSET]))
    except ValueError as exc:
        return {'smiles': smiles, 'record': None, 'failures': {'record': f'{smiles}: {exc}'},
                'runtime': time.perf_counter() - start}
    outcome = compute_recipes(record, make_recipes(), XTBSimulator(**simulator_options))
    return {'smiles': smiles, 'record': record.model_dump_json(), 'failures': outcome.failures,
            'simulations': outcome.simulations, 'runtime': outcome.runtime}


def read_smiles(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            out.append(line.split()[0])
    return out


def load_state(output: Path, meta_path: Path):
    from examol_core.records import read_records

    records = {r.key: r for r in read_records(output)} if output.exists() else {}
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.setdefault('failures', {})
    meta.setdefault('compute_seconds', 0.)
    meta.setdefault('wall_seconds', 0.)
    meta.setdefault('runs', [])
    return records, meta


def save_state(records: dict, order: list[str], output: Path, meta: dict, meta_path: Path) -> None:
    from examol_core.records import write_records

    ranked = {key: i for i, key in enumerate(order)}
    write_records(sorted(records.values(), key=lambda r: ranked.get(r.key, len(ranked))), output)
    tmp = meta_path.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + '\n')
    os.replace(tmp, meta_path)


def complete(record) -> bool:
    values = record.properties.get(PROPERTY, {})
    return all(level in values for level in LEVELS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--smiles', type=Path, default=DATA / 'search-space.smi', help='SMILES file, one per line')
    parser.add_argument('--output', type=Path, default=DATA / 'redoxmers-oxidation.jsonl.gz',
                        help='records (JSON lines; .gz compressed); the run metadata goes beside it')
    parser.add_argument('--workers', type=int, default=2, help='worker processes')
    parser.add_argument('--threads', type=int, default=1, help='OpenMP threads per worker')
    parser.add_argument('--fmax', type=float, default=0.05, help='optimiser force threshold (eV/Å)')
    parser.add_argument('--max-steps', type=int, default=250, help='optimiser step cap')
    parser.add_argument('--limit', type=int, default=None, help='only the first N molecules')
    parser.add_argument('--retry-failures', action='store_true', help='recompute molecules that failed before')
    parser.add_argument('--save-every', type=float, default=20., help='seconds between checkpoints')
    parser.add_argument('--progress-file', type=Path, default=None, help='also write progress (JSON) here')
    parser.add_argument('--card', type=Path, default=None, help='data card to write (default: README.md beside output)')
    parser.add_argument('--no-card', action='store_true', help='do not write the data card')
    parser.add_argument('--card-only', action='store_true', help='only regenerate the data card from the records')
    args = parser.parse_args(argv)

    output: Path = args.output
    meta_path = output.with_name(output.name.split('.')[0] + '.meta.json')
    card = args.card or output.with_name('README.md')
    smiles = read_smiles(args.smiles)
    if args.limit:
        smiles = smiles[:args.limit]
    if args.card_only:
        write_card(card, *load_state(output, meta_path), smiles, output, args.smiles, meta_path)
        return 0

    # One run at a time per output file; released when the process ends, however it ends
    output.parent.mkdir(parents=True, exist_ok=True)
    lock_path = output.with_name(f'.{output.name}.lock')
    lock = open(lock_path, 'w')  # held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f'Another run is writing {output}; wait for it or stop it first.', file=sys.stderr)
        return 75
    try:
        return _run(args, smiles, output, meta_path, card)
    finally:
        lock_path.unlink(missing_ok=True)
        lock.close()


def _run(args: argparse.Namespace, smiles: list[str], output: Path, meta_path: Path, card: Path) -> int:
    """The computation, once this process holds the lock on ``output``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from examol_core.records import MoleculeRecord

    records, meta = load_state(output, meta_path)

    def _terminate(signum, frame):  # `kill PID` saves and stops like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background

    keys: dict[str, str] = {}
    for smi in smiles:
        try:
            keys[smi] = MoleculeRecord.from_identifier(smi).key
        except ValueError as exc:
            keys[smi] = f'invalid:{smi}'
            meta['failures'].setdefault(keys[smi], {'smiles': smi, 'reasons': {'record': str(exc)}})
    order = list(dict.fromkeys(keys.values()))
    todo: list[str] = []
    queued: set[str] = set()
    for smi in smiles:
        key = keys[smi]
        if key.startswith('invalid:') or (key in records and complete(records[key])):
            continue
        if key in meta['failures'] and not args.retry_failures:
            continue
        if key in queued:  # the same molecule written twice
            continue
        queued.add(key)
        todo.append(smi)
    done_before = len(smiles) - len(todo)
    options = {'threads': args.threads, 'fmax': args.fmax, 'max_steps': args.max_steps, 'keep_steps': False}
    run = {'started': datetime.now(UTC).isoformat(timespec='seconds'), 'workers': args.workers,
           'threads': args.threads, 'molecules': len(todo), 'host_cpus': os.cpu_count(), **versions()}
    meta['runs'].append(run)
    meta['simulator'] = {**options, 'optimizer': 'BFGS'}
    print(f'{len(smiles)} molecules, {done_before} already finished, {len(todo)} to compute '
          f'with {args.workers} workers × {args.threads} thread(s)', flush=True)

    start = time.perf_counter()
    last_save = start
    completed = 0
    interrupted = False

    def progress_report() -> None:
        if args.progress_file:
            elapsed = time.perf_counter() - start
            rate = completed / elapsed if elapsed else 0.
            args.progress_file.write_text(json.dumps({
                'done': done_before + completed, 'total': len(smiles), 'this_run': completed,
                'failures': len(meta['failures']), 'elapsed_s': round(elapsed, 1),
                'molecules_per_s': round(rate, 3),
                'eta_s': round((len(todo) - completed) / rate, 1) if rate else None,
                'updated': datetime.now(UTC).isoformat(timespec='seconds')}) + '\n')

    columns = (TextColumn('[progress.description]{task.description}'), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn('{task.fields[failed]} failed'))
    executor = ProcessPoolExecutor(max_workers=args.workers, initializer=_init_worker, initargs=(args.threads,),
                                   mp_context=_context())
    try:
        with Progress(*columns, refresh_per_second=2) as progress:
            task = progress.add_task('oxidation potentials', total=len(smiles), completed=done_before,
                                     failed=len(meta['failures']))
            pending: set[Future] = set()
            queue = iter(todo)
            window = max(2, args.workers * 3)
            while True:
                for smi in queue:
                    key = keys[smi]
                    existing = records.get(key)
                    pending.add(executor.submit(compute_one, smi, existing.model_dump_json() if existing else None,
                                                options))
                    if len(pending) >= window:
                        break
                if not pending:
                    break
                finished, pending = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
                for future in finished:
                    out = future.result()
                    smi = out['smiles']
                    key = keys[smi]
                    if out['record'] is not None:
                        records[key] = MoleculeRecord.model_validate_json(out['record'])
                    meta['compute_seconds'] += out['runtime']
                    if out['failures']:
                        meta['failures'][key] = {'smiles': smi, 'reasons': out['failures']}
                    else:
                        meta['failures'].pop(key, None)
                    completed += 1
                    progress.update(task, advance=1, failed=len(meta['failures']))
                if time.perf_counter() - last_save > args.save_every:
                    meta['wall_seconds'] += time.perf_counter() - last_save
                    last_save = time.perf_counter()
                    save_state(records, order, output, meta, meta_path)
                    progress_report()
    except KeyboardInterrupt:
        interrupted = True
        print('Interrupted: saving what is finished; run the same command again to resume.', flush=True)
    finally:
        executor.shutdown(wait=not interrupted, cancel_futures=True)
        meta['wall_seconds'] += time.perf_counter() - last_save
        run['finished'] = datetime.now(UTC).isoformat(timespec='seconds')
        run['completed'] = completed
        run['wall_seconds'] = round(time.perf_counter() - start, 1)
        save_state(records, order, output, meta, meta_path)
        progress_report()
    print(f'{completed} molecules in {time.perf_counter() - start:.0f} s; '
          f'{sum(complete(r) for r in records.values())} complete, {len(meta["failures"])} failed', flush=True)
    if not args.no_card and not interrupted:
        write_card(card, records, meta, smiles, output, args.smiles, meta_path)
    return 130 if interrupted else 0


def _context():
    import multiprocessing

    # spawn: workers start clean, so OMP_NUM_THREADS is read before tblite loads OpenMP
    return multiprocessing.get_context('spawn')


def versions() -> dict[str, str]:
    out = {'python': platform.python_version()}
    for dist in ('tblite', 'ase', 'rdkit', 'examol-core', 'examol-xtb'):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = 'not installed'
    return out


def statistics(records: dict) -> dict:
    """Counts, correlations and offsets between levels (Pearson r on molecules with both levels)."""
    import numpy as np

    values = {level: {} for level in LEVELS}
    for key, record in records.items():
        for level, value in record.properties.get(PROPERTY, {}).items():
            if level in values:
                values[level][key] = value
    stats: dict = {'counts': {level: len(v) for level, v in values.items()},
                   'all_levels': sum(complete(r) for r in records.values()), 'pairs': {}, 'levels': {}}
    for level, v in values.items():
        x = np.array(list(v.values()))
        if len(x):
            stats['levels'][level] = {'mean': float(x.mean()), 'std': float(x.std()), 'min': float(x.min()),
                                      'max': float(x.max())}
    for a, b in (('gfn1-vertical', 'gfn2-vertical'), ('gfn2-vertical', 'gfn2-adiabatic'),
                 ('gfn1-vertical', 'gfn2-adiabatic')):
        common = sorted(set(values[a]) & set(values[b]))
        if len(common) < 3:
            continue
        x = np.array([values[a][k] for k in common])
        y = np.array([values[b][k] for k in common])
        d = y - x
        stats['pairs'][f'{a} → {b}'] = {
            'n': len(common), 'pearson_r': float(np.corrcoef(x, y)[0, 1]),
            'spearman_rho': float(np.corrcoef(np.argsort(np.argsort(x)), np.argsort(np.argsort(y)))[0, 1]),
            'mean_offset': float(d.mean()), 'std_offset': float(d.std()), 'mae': float(np.abs(d).mean()),
            'max_abs_offset': float(np.abs(d).max())}
    stats['bonding_changed'] = bonding_changes(records)
    vertical_below = [k for k in values['gfn2-adiabatic']
                      if k in values['gfn2-vertical'] and values['gfn2-adiabatic'][k] > values['gfn2-vertical'][k] + 1e-6]
    stats['adiabatic_above_vertical'] = len(vertical_below)
    return stats


GEOMETRIES = {'mmff start': ('initial', 'mmff', 0), 'gfn1 neutral': ('relaxation', 'gfn1', 0),
              'gfn2 neutral': ('relaxation', 'gfn2', 0), 'gfn2 cation': ('relaxation', 'gfn2', 1)}


def bonding_changes(records: dict, broken: float = 1.25, formed: float = 1.1) -> dict[str, list[str]]:
    """Molecules whose geometries no longer have the bonds of their SMILES, per geometry.

    A bond of the SMILES counts as broken beyond ``broken`` × the sum of covalent radii (1.9 Å
    for C–C); two unbonded atoms count as bonded below ``formed`` × that sum (1.67 Å for C–C).
    The gap between the two keeps strained cages (1,3 distances of 1.85 Å in
    bicyclo[1.1.1]pentane) from being miscounted. Atom order in the conformers is that of the
    record's SMILES with hydrogens added.
    """
    import numpy as np
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    out: dict[str, list[str]] = {name: [] for name in GEOMETRIES}
    for record in records.values():
        mol = Chem.AddHs(Chem.MolFromSmiles(record.identifier.smiles))
        graph = Chem.GetAdjacencyMatrix(mol).astype(bool)
        radii = np.array([table.GetRcovalent(a.GetAtomicNum()) for a in mol.GetAtoms()])
        limit = radii[:, None] + radii[None, :]
        np.fill_diagonal(limit, 0)
        geoms = {}
        for conf in record.conformers:
            geoms.setdefault((conf.source, conf.config_name, conf.charge), conf.xyz)
        for name, kind in GEOMETRIES.items():
            if kind not in geoms:
                continue
            pos = np.array([[float(v) for v in line.split()[1:4]] for line in geoms[kind].strip().splitlines()[2:]])
            if len(pos) != len(radii):
                out[name].append(record.identifier.smiles)
                continue
            dist = np.linalg.norm(pos[:, None] - pos[None, :], axis=-1)
            np.fill_diagonal(dist, np.inf)
            if np.any(graph & (dist > broken * limit)) or np.any(~graph & (dist < formed * limit)):
                out[name].append(record.identifier.smiles)
    return out


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return '?'
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours} h {minutes:02d} min' if hours else f'{minutes} min {sec:02d} s'


def write_card(card: Path, records: dict, meta: dict, smiles: list[str], output: Path, smiles_path: Path,
               meta_path: Path | None = None) -> None:
    """Regenerate the data card from the records and the run metadata (which gets the statistics too)."""
    from examol_core.records import MoleculeRecord

    stats = statistics(records)
    distinct: dict[str, list[str]] = {}
    for smi in smiles:
        try:
            distinct.setdefault(MoleculeRecord.from_identifier(smi).key, []).append(smi)
        except ValueError:
            distinct.setdefault(f'invalid:{smi}', []).append(smi)
    duplicates = [group for group in distinct.values() if len(group) > 1]
    if meta_path is not None:
        meta['statistics'] = {k: v for k, v in stats.items() if k != 'bonding_changed'}
        meta['bonding_changed'] = stats['bonding_changed']
        meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False) + '\n')
    total = len(smiles)
    last = meta['runs'][-1] if meta['runs'] else {}
    lines = [
        '# examol_core data: multi-fidelity oxidation potentials of the redoxmers search space',
        '',
        '*This card is generated by `scripts/compute_redox_dataset.py`; edit the script, not the card.*',
        '',
        '| file | what |',
        '|---|---|',
        f'| `{smiles_path.name}` | the {total:,} molecules (SMILES, one per line) |',
        f'| `{output.name}` | one `MoleculeRecord` per molecule (JSON lines, gzip): conformers (MMFF94 start, '
        'GFN1/GFN2 relaxed neutral, GFN2 relaxed cation) with their energies (eV), and '
        '`properties["oxidation_potential"]` by level |',
        f'| `{output.name.split(".")[0]}.meta.json` | run metadata: failures with reasons, timings, versions, '
        'settings (the script resumes from it) |',
        '',
        '## Source',
        '',
        f'`{smiles_path.name}` is a copy of `examples/redoxmers/search_space.smi` from ExaMol '
        '(github.com/exalearn/ExaMol), MIT licence, Copyright (c) 2022 ExaLearn: small organic molecules '
        '(QM9-sized; C, H, N, O, F) used as a redox-active candidate pool. The energies and properties here are '
        'computed by this project.',
        '',
        '## Method',
        '',
        '* Initial geometry: RDKit ETKDGv3 embedding (seed 1; random coordinates if that fails; for strained cages '
        'that still fail, the heavy atoms alone, then hydrogens placed) and MMFF94 relaxation '
        '(`examol_core.conformers`).',
        f'* Simulator: `examol_xtb.XTBSimulator` — tblite {last.get("tblite", "?")} (GFN1-xTB, GFN2-xTB; '
        f'electronic temperature 300 K, accuracy 1), ASE {last.get("ase", "?")} BFGS optimisation to '
        f'fmax = {meta.get("simulator", {}).get("fmax", "?")} eV/Å, at most '
        f'{meta.get("simulator", {}).get("max_steps", "?")} steps. Gas phase (no solvent). Cations are doublets '
        '(uhf = 1), neutrals singlets (all molecules have an even electron count).',
        '* Recipes run in this order, each to completion, so each geometry starts from the previous minimum: '
        '`RedoxEnergy(1, "gfn1", vertical=True)`, `RedoxEnergy(1, "gfn2", vertical=True)`, '
        '`RedoxEnergy(1, "gfn2")` (`examol_xtb.compute_recipes`).',
        '',
        '## Levels (lowest to highest fidelity)',
        '',
        'Property `oxidation_potential`, unit **eV**: E(cation) − E(neutral), electronic energies, no '
        'zero-point or thermal corrections and no reference-electrode shift (it is an ionisation energy). '
        'Uncorrected xTB ionisation energies are several eV above experiment (GFN2 gives 14.8 eV for ethanol, '
        'experiment 10.5 eV); they are consistent across molecules, which is what a multi-fidelity benchmark needs.',
        '',
        '| level | geometry | count | mean (eV) | std | min | max |',
        '|---|---|---|---|---|---|---|',
    ]
    geometry = {'gfn1-vertical': 'both at the GFN1 neutral minimum',
                'gfn2-vertical': 'both at the GFN2 neutral minimum',
                'gfn2-adiabatic': 'each at its own GFN2 minimum'}
    for level in LEVELS:
        s = stats['levels'].get(level)
        row = (f'{s["mean"]:.3f} | {s["std"]:.3f} | {s["min"]:.3f} | {s["max"]:.3f}' if s else '– | – | – | –')
        lines.append(f'| `{level}` | {geometry[level]} | {stats["counts"][level]} | {row} |')
    lines += [
        '',
        '## Counts',
        '',
        f'* SMILES: {total:,}; distinct molecules (InChIKey): {len(distinct):,}'
        + (f' ({"; ".join(" = ".join(f"`{x}`" for x in group) for group in duplicates)} share an InChIKey: standard '
           'InChI merges these tautomers, so they are one record)' if duplicates else '') + '.',
        f'* Records: {len(records):,}; with all three levels: **{stats["all_levels"]:,}** '
        f'({100 * stats["all_levels"] / max(len(distinct), 1):.1f} % of the distinct molecules, '
        f'{100 * stats["all_levels"] / max(total, 1):.1f} % of the SMILES).',
        f'* Failures: {len(meta["failures"])} (listed below). Molecules not yet computed: '
        f'{len(set(distinct) - set(records) - set(meta["failures"]))}.',
        f'* Adiabatic above vertical (GFN2; physically impossible beyond optimiser noise): '
        f'{stats["adiabatic_above_vertical"]}.',
        '* Bonds no longer those of the SMILES (a bond longer than 1.25 × the sum of covalent radii, or two '
        'unbonded atoms closer than 1.1 × that sum), by geometry: '
        + ', '.join(f'{name} {len(v)}' for name, v in stats['bonding_changed'].items())
        + '. Relaxation opened a strained ring or moved a hydrogen in these, so their values describe an isomer '
        '(a few hyper-strained cages have 1.9–2.0 Å C–C bonds even at the MMFF94 start)'
        '; in the cation ones the adiabatic value includes a rearrangement. They are kept, as the recipes define '
        'them; the SMILES are listed in the `.meta.json` file (`bonding_changed`).',
        '',
        '## Agreement between levels',
        '',
        '| pair | n | Pearson r | Spearman ρ | mean offset (eV) | std of offset | MAE | max abs |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for pair, s in stats['pairs'].items():
        lines.append(f'| {pair} | {s["n"]} | {s["pearson_r"]:.3f} | {s["spearman_rho"]:.3f} | '
                     f'{s["mean_offset"]:+.3f} | {s["std_offset"]:.3f} | {s["mae"]:.3f} | {s["max_abs_offset"]:.3f} |')
    lines += ['', 'Offset = second level − first level.', '', '## Time', '']
    runs = meta['runs']
    lines += [
        f'* Wall time over {len(runs)} run(s): {_fmt_time(meta["wall_seconds"])}; summed worker time '
        f'{_fmt_time(meta["compute_seconds"])} ({meta["compute_seconds"] / max(len(records), 1):.2f} s per molecule).',
        f'* Machine: {last.get("host_cpus", "?")} CPUs shared with other work; '
        f'{last.get("workers", "?")} worker processes × {last.get("threads", "?")} OpenMP thread.',
        f'* Versions: Python {last.get("python", "?")}, tblite {last.get("tblite", "?")}, ase {last.get("ase", "?")}, '
        f'rdkit {last.get("rdkit", "?")}, examol-xtb {last.get("examol-xtb", "?")}.',
        '',
        '## Failures',
        '',
    ]
    if meta['failures']:
        lines += ['| SMILES | levels | reason |', '|---|---|---|']
        for info in meta['failures'].values():
            by_reason: dict[str, list[str]] = {}
            for level, reason in info['reasons'].items():
                by_reason.setdefault(reason.replace('|', '\\|').replace('\n', ' '), []).append(level.split('/')[-1])
            for reason, levels in by_reason.items():
                shown = 'all' if len(levels) == len(LEVELS) else ', '.join(levels)
                lines.append(f'| `{info["smiles"]}` | {shown} | {reason} |')
    else:
        lines.append('None.')
    lines += [
        '',
        '## Rebuild',
        '',
        '```bash',
        'pip install -e . -e plugins/xtb_simulator',
        'python scripts/compute_redox_dataset.py --workers 2     # resumes; --retry-failures to retry failures',
        '```',
        '',
        'Delete the records and `.meta.json` files to start from scratch.',
        '',
    ]
    card.write_text('\n'.join(lines))
    print(f'Wrote {card}', flush=True)


if __name__ == '__main__':
    sys.exit(main())
