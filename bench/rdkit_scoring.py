"""Benchmark of the RDKit scorer against the straightforward approach.

Times, on molecules of the redoxmers search space repeated to size: featurisation (Morgan
fingerprints, 256 bits, radius 4), training a 2-nearest-neighbour model on 1,000 molecules, and
end-to-end scoring (SMILES in, scores out) of 10,000 and 100,000 molecules. Prints molecules per
second and the peak memory each step adds, for examol-rdkit and for the straightforward approach:
one Python call per molecule to ``GetMorganFingerprintAsBitVect`` and
``DataStructs.ConvertToNumpyArray``, then scikit-learn's ``KNeighborsRegressor(metric='jaccard')``.

Each measurement runs in a fresh process, after a warm-up call on 10 molecules, one after the
other, so that memory figures do not mix and only one heavy process runs at a time. Throughput on a shared machine varies with
the load (printed); compare the two approaches within one run.

With ``--gpr``, the default GPR instead (:func:`examol_rdkit.make_gpr_model`, trained on the
molecules of ``--smiles`` with RDKit's MolLogP as label): end-to-end scoring of new molecules
(``bench/model_quality.py``'s :func:`substituted_molecules`), records to scores, by the default
model and by the same fitted model with its descriptors computed the plain way
(:func:`examol_rdkit.descriptors.reference_descriptors`, one process: the code before the
descriptors were shared and spread over cores), in alternating rounds (best and median rate of
each), plus the time of each piece in one process.

Usage::

    python bench/rdkit_scoring.py [--smiles PATH] [--quick] [--gpr]
"""
from __future__ import annotations

import argparse
import copy
import math
import multiprocessing
import os
import platform
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import rdkit
import sklearn
from examol_rdkit import FingerprintTransformer, RDKitScorer, make_gpr_model, make_knn_model
from examol_rdkit.descriptors import doan_2020_descriptors, reference_descriptors
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import Crippen, rdMolDescriptors
from sklearn.neighbors import KNeighborsRegressor

from examol_core import MoleculeRecord

ROOT = Path(__file__).resolve().parents[1]
# The same 1,000 molecules as ../shared/data/redoxmers-search-space.smi, shipped with the core
DEFAULT_SMILES = ROOT / 'examol_core' / 'data' / 'search-space.smi'
LENGTH, RADIUS, NEIGHBOURS = 256, 4, 2


# The straightforward approach

def baseline_features(smiles: list[str]) -> np.ndarray:
    """One call per molecule, as scorers are commonly written."""
    rows = []
    with rdBase.BlockLogs():  # the deprecation warning printed per molecule would dominate the timing
        for smi in smiles:
            mol = Chem.MolFromSmiles(smi)
            fp = rdMolDescriptors.GetMorganFingerprintAsBitVect(mol, RADIUS, nBits=LENGTH)
            arr = np.zeros((LENGTH,), dtype=bool)
            DataStructs.ConvertToNumpyArray(fp, arr)
            rows.append(arr)
    return np.vstack(rows)


def baseline_train(smiles: list[str], y: np.ndarray) -> KNeighborsRegressor:
    return KNeighborsRegressor(n_neighbors=NEIGHBOURS, metric='jaccard').fit(baseline_features(smiles), y)


def baseline_score(model: KNeighborsRegressor, smiles: list[str]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # scikit-learn's notes about boolean data
        return model.predict(baseline_features(smiles))


# examol-rdkit

def examol_features(smiles: list[str]) -> np.ndarray:
    return FingerprintTransformer('morgan', length=LENGTH, radius=RADIUS).transform(smiles)


def examol_train(smiles: list[str], y: np.ndarray) -> Any:
    scorer = RDKitScorer()
    msg = scorer.prepare_message(make_knn_model(n_neighbors=NEIGHBOURS, length=LENGTH, radius=RADIUS), training=True)
    return scorer.retrain(msg, smiles, y)


def examol_score(model: Any, smiles: list[str], n_jobs: int | None = None) -> np.ndarray:
    scorer = RDKitScorer()
    if n_jobs is not None:  # both cores: fingerprints in 2 processes, similarities on 2 BLAS threads
        model = copy.deepcopy(model).set_params(fingerprints__n_jobs=n_jobs, knn__n_jobs=n_jobs)
    return scorer.score(scorer.prepare_message(model), smiles)


# Measurement

def _rss_mb() -> float:
    with open('/proc/self/statm') as fp:
        return int(fp.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def _peak_mb() -> float:
    with open('/proc/self/status') as fp:
        for line in fp:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (such as a pool of featurising workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _child(conn, func: Callable, args: tuple, warmup: tuple, keep: bool) -> None:
    try:
        func(*warmup)  # first-call costs (BLAS buffers, fingerprint generator) are not throughput
        with open('/proc/self/clear_refs', 'w') as fp:
            fp.write('5')  # reset the peak-RSS mark
        start_rss = _rss_mb()
        start, start_cpu = time.perf_counter(), _cpu_seconds()
        result = func(*args)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - start_cpu
        conn.send((Measurement(seconds, _peak_mb() - start_rss, result if keep else None, cpu), None))
    except BaseException as exc:  # report, do not hang the parent
        conn.send((None, f'{type(exc).__name__}: {exc}'))
    finally:
        conn.close()


class Measurement(NamedTuple):
    """One call measured in a fresh process."""

    seconds: float
    peak_mb: float  # peak memory added by the call
    result: Any  # the call's result if kept
    cpu_seconds: float  # CPU time of the call, its worker processes included: what the call costs on a busy machine


def measure(func: Callable, args: tuple, warmup: tuple, keep: bool = False) -> Measurement:
    """Run ``func(*args)`` in a fresh process after ``func(*warmup)``; keep its result if ``keep``."""
    ctx = multiprocessing.get_context('spawn')  # a forked child would pay for copying the parent's pages
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, func, args, warmup, keep))
    proc.start()
    child.close()
    measurement, error = parent.recv()
    proc.join()
    if error:
        raise RuntimeError(f'{func.__name__} failed: {error}')
    return measurement


def compare(model: Any, smiles: list[str], ours: np.ndarray, baseline: np.ndarray) -> tuple[float, int, int]:
    """Share of identical predictions, number of others, and how many of those tie at the k-th neighbour.

    The two approaches compute the same distances; with a tie between the k-th and (k+1)-th
    nearest training molecules they may average different neighbours.
    """
    differ = np.flatnonzero(~np.isclose(ours, baseline, rtol=0, atol=1e-9))
    if not len(differ):
        return 1., 0, 0
    distances, _ = model[-1].kneighbors(model[0].transform([smiles[i] for i in differ]), NEIGHBOURS + 1)
    ties = int(np.isclose(distances[:, NEIGHBOURS - 1], distances[:, NEIGHBOURS]).sum())
    return 1 - len(differ) / len(smiles), len(differ), ties


# The GPR

def gpr_score(model: Any, records: list[MoleculeRecord]) -> np.ndarray:
    """What a worker does with a scoring task: records in, scores out."""
    scorer = RDKitScorer()
    return scorer.score(scorer.prepare_message(model), scorer.transform_inputs(records))


def gpr_variant(model: Any, descriptors: str, n_jobs: int | None) -> Any:
    """The fitted model with its descriptors computed by ``descriptors`` in ``n_jobs`` processes."""
    model = copy.deepcopy(model)
    function = 'descriptors' if descriptors == 'shared' else reference_descriptors
    return model.set_params(descriptors__function=function, descriptors__n_jobs=n_jobs)


def gpr_pieces(model: Any, smiles: list[str]) -> dict[str, float]:
    """Seconds of each piece of scoring, in one process."""
    regressor = model[-1].best_estimator_
    times, start = {}, time.perf_counter()
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in smiles]
    times['parse SMILES'] = time.perf_counter() - start
    start = time.perf_counter()
    reference_descriptors(mols)
    times['descriptors, plain'] = time.perf_counter() - start
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in smiles]  # fresh molecules: RDKit caches a few values on them
    start = time.perf_counter()
    features = doan_2020_descriptors(mols)
    times['descriptors, shared'] = time.perf_counter() - start
    start = time.perf_counter()
    components = regressor[0].transform(features)
    times['PCA'] = time.perf_counter() - start
    start = time.perf_counter()
    regressor[-1].predict(components)
    times['GP mean'] = time.perf_counter() - start
    start = time.perf_counter()
    regressor[-1].predict(components, return_std=True)
    times['GP mean and std'] = time.perf_counter() - start
    return times


def gpr_main(pool: list[str], quick: bool, rounds: int) -> int:
    from model_quality import substituted_molecules  # a sibling script, needed only here

    n_train, n_score = (300, 1_000) if quick else (len(pool), 5_000)
    train = pool[:n_train]
    with rdBase.BlockLogs():
        y = np.array([Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in train])
    new = substituted_molecules(pool, n_score)
    records = [MoleculeRecord.from_identifier(s) for s in new]
    print(f'GPR scoring benchmark{" (--quick)" if quick else ""}: {os.cpu_count()} CPUs, Python '
          f'{platform.python_version()}, rdkit {rdkit.__version__}, scikit-learn {sklearn.__version__}. '
          f'Load average at start: {os.getloadavg()[0]:.1f}')
    scorer = RDKitScorer()
    start = time.perf_counter()
    template = make_gpr_model()
    model = scorer.update(template, scorer.retrain(scorer.prepare_message(template, training=True), train, y))
    print(f'Default GPR trained on {n_train:,} molecules (MolLogP) in {time.perf_counter() - start:.0f} s; '
          f'{model[-1].best_params_}. Scoring {len(records):,} new molecules, records to scores, each in a fresh '
          f'process, {rounds} rounds:\n')
    few = records[:10]
    variants = {'plain descriptors, 1 process (before)': gpr_variant(model, 'plain', None),
                'shared descriptors, 1 process': gpr_variant(model, 'shared', None),
                'default: shared descriptors, every core': model}
    rates = {label: [] for label in variants}
    cpu = {label: [] for label in variants}
    predictions = {}
    for _ in range(rounds):  # alternate, so that a change of load hits every variant
        for label, variant in variants.items():
            run = measure(gpr_score, (variant, records), (variant, few), keep=True)
            rates[label].append(len(records) / run.seconds)
            cpu[label].append(run.cpu_seconds / len(records) * 1e3)
            predictions.setdefault(label, run.result)
    before = 'plain descriptors, 1 process (before)'
    header = (f'{"GPR scoring":<42} | {"best mol/s":>10} | {"median":>7} | best vs before | median vs before | '
              'CPU ms/mol | max |difference|')
    print(header)
    print('-' * len(header))
    for label, values in rates.items():
        best, median = max(values), float(np.median(values))
        print(f'{label:<42} | {best:>10,.0f} | {median:>7,.0f} | {best / max(rates[before]):>13.2f}x | '
              f'{median / np.median(rates[before]):>15.2f}x | {np.median(cpu[label]):>10.2f} | '
              f'{np.abs(predictions[label] - predictions[before]).max():.1e}')
    cores = len(os.sched_getaffinity(0))
    print(f'\nCPU ms/mol: median CPU time per molecule of the scoring call, its worker processes included. It rises '
          'too on a busy machine (shared caches, a virtual machine\'s vCPUs waiting for the host), so compare it '
          f'within one run. At the default\'s median CPU time, {cores} free cores would score about '
          f'{cores * 1e3 / np.median(cpu["default: shared descriptors, every core"]):,.0f} mol/s.')
    print(f'\nPieces, one process, {len(new):,} molecules:')
    for piece, seconds in measure(gpr_pieces, (model, new), (model, new[:10]), keep=True).result.items():
        print(f'  {piece:<22} {seconds:7.2f} s  ({len(new) / seconds:>9,.0f} /s)')
    print(f'\nLoad average at end: {os.getloadavg()[0]:.1f}')
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--smiles', type=Path, default=DEFAULT_SMILES,
                        help=f'SMILES file, one molecule per line (default: {DEFAULT_SMILES})')
    parser.add_argument('--quick', action='store_true', help='small sizes (score 1,000 and 5,000 molecules): a smoke run of about 10 s')
    parser.add_argument('--gpr', action='store_true', help='the default GPR instead of the KNN (see the module docstring)')
    parser.add_argument('--rounds', type=int, help='--gpr: rounds of the scoring measurements (default 3; 1 quick)')
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f'(ignoring arguments meant for other benchmarks: {" ".join(unknown)})')
    if not args.smiles.is_file():
        parser.error(f'no SMILES file at {args.smiles}; pass --smiles PATH')
    pool = [line.split()[0] for line in args.smiles.read_text().splitlines() if line.strip()]
    if args.gpr:
        return gpr_main(pool, args.quick, args.rounds or (1 if args.quick else 3))

    n_featurise, n_train, n_score = (2_000, 1_000, (1_000, 5_000)) if args.quick else (10_000, 1_000, (10_000, 100_000))

    def repeat(n: int) -> list[str]:
        return (pool * math.ceil(n / len(pool)))[:n]

    train_smiles = repeat(n_train)
    y = np.array([len(s) for s in train_smiles], dtype=float)  # any label will do for timing

    print(f'RDKit scoring benchmark{" (--quick)" if args.quick else ""}: {os.cpu_count()} CPUs, '
          f'Python {platform.python_version()}, rdkit {rdkit.__version__}, scikit-learn {sklearn.__version__}')
    print(f'Molecules: {len(pool):,} from {args.smiles}, repeated to size. Load average at start: '
          f'{os.getloadavg()[0]:.1f}')
    print(f'Morgan fingerprints: {LENGTH} bits, radius {RADIUS}; KNN with {NEIGHBOURS} neighbours, Jaccard/Tanimoto\n')

    ours_model = examol_train(train_smiles, y)
    base_model = baseline_train(train_smiles, y)

    few = repeat(10)
    rows = []
    agreement = (1., 0, 0)
    for label, n, ours, base, warmup in [
        ('featurise', n_featurise, (examol_features, repeat(n_featurise)), (baseline_features, repeat(n_featurise)),
         (few,)),
        ('train KNN', n_train, (examol_train, train_smiles, y), (baseline_train, train_smiles, y), (few, y[:10])),
        *[('score, end to end', n, (examol_score, ours_model, repeat(n)), (baseline_score, base_model, repeat(n)), None)
          for n in n_score],
        ('  same, n_jobs=2', n_score[-1], (examol_score, ours_model, repeat(n_score[-1]), 2), None, None),
    ]:
        keep = label.startswith('score') and n == n_score[0]
        ours_warmup = warmup or (ours[1], few)
        t_ours, m_ours, p_ours, _ = measure(ours[0], ours[1:], ours_warmup, keep=keep)
        if base is None:  # a variant of ours: compare with the straightforward figures of the row above
            rows.append((label, n, n / t_ours, m_ours, rows[-1][4], rows[-1][5]))
            continue
        t_base, m_base, p_base, _ = measure(base[0], base[1:], warmup or (base[1], few), keep=keep)
        rows.append((label, n, n / t_ours, m_ours, n / t_base, m_base))
        if keep:
            agreement = compare(ours_model, repeat(n), p_ours, p_base)

    header = f'{"step":<18} {"molecules":>10} | {"examol-rdkit":>13} {"peak MB":>8} | {"straightforward":>15} {"peak MB":>8} | speed-up'
    print(header)
    print('-' * len(header))
    for label, n, r_ours, m_ours, r_base, m_base in rows:
        print(f'{label:<18} {n:>10,} | {r_ours:>9,.0f} /s {m_ours:>8.1f} | {r_base:>11,.0f} /s {m_base:>8.1f} | '
              f'{r_ours / r_base:>6.1f}x')

    scoring = [row for row in rows if row[0].startswith('score')]  # default settings: one process, one BLAS thread
    print(f'\nLoad average at end: {os.getloadavg()[0]:.1f}')
    ratios = ', '.join(f'{n:,}: {r_ours / r_base:.1f}x' for _, n, r_ours, _, r_base, _ in scoring)
    met = all(r_ours / r_base >= 5 for _, _, r_ours, _, r_base, _ in scoring)
    print(f'End-to-end scoring throughput vs straightforward, default settings ({ratios}): '
          f'target 5x {"met" if met else "NOT met"}')
    (_, n_small, _, m_small, _, b_small), (_, n_large, _, m_large, _, b_large) = scoring[0], scoring[-1]
    print(f'Peak extra memory while scoring {n_small:,} → {n_large:,} molecules: examol-rdkit {m_small:.1f} → '
          f'{m_large:.1f} MB (the output itself: {n_small * 8 / 2**20:.2f} → {n_large * 8 / 2**20:.2f} MB); '
          f'straightforward {b_small:.1f} → {b_large:.1f} MB')
    share, n_differ, ties = agreement
    print(f'Predictions on {n_score[0]:,} molecules: {share:.1%} identical to the straightforward approach; '
          f'{ties} of the {n_differ} others have a tie between neighbours {NEIGHBOURS} and {NEIGHBOURS + 1}, '
          'which the two break differently')
    return 0


if __name__ == '__main__':
    sys.exit(main())
