"""Throughput of the chemprop scorer against the NFP scorer of the same size, and its input choice.

Both scorers run in this process on the same molecules of the redoxmers search space, one thread
each (``OMP_NUM_THREADS=1``, TensorFlow's thread pools set to one), alternating round by round so
that load from other processes on a shared machine affects both alike. Sizes match: chemprop's
``hidden_size``/``depth``/one head layer of that width against NFP's
``atom_features``/``message_steps``/one readout layer of that width.

* scoring: SMILES in, scores out (``transform_inputs`` then ``score``), after a warm-up call;
* training: molecules per second per epoch, from each scorer's own per-epoch history (NFP's
  first epoch, which traces the graph, excluded);
* chemprop's inputs: featurising on the steering side and shipping graphs (pickled, as a task
  server would) against shipping SMILES and featurising on the worker, one worker.

Run from the repository root (needs examol-chemprop and examol-nfp in one environment)::

    python bench/chemprop_scoring.py [--quick] [--hidden 64] [--depth 3]
"""
from __future__ import annotations

import argparse
import os
import pickle
import statistics
import time
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import examol_nfp  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SMILES_FILE = REPO_ROOT / 'examol_core' / 'data' / 'search-space.smi'


def read_smiles(count: int) -> list[str]:
    lines = [line.split()[0] for line in SMILES_FILE.read_text().splitlines() if line.strip()]
    return [lines[i % len(lines)] for i in range(count)]


def one_thread() -> None:
    import tensorflow as tf
    import torch

    torch.set_num_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


class Side:
    """One scorer with a network of the given size, trained once so that it can score."""

    def __init__(self, name: str, hidden: int, depth: int, train_smiles: list[str], labels: np.ndarray):
        from examol_core.plugins import load_scorer, make_model

        self.name = name
        self.scorer = load_scorer(name)
        if name == 'chemprop':
            options = {'hidden_size': hidden, 'depth': depth, 'ffn_hidden_size': hidden, 'ffn_layers': 1}
        else:
            options = {'atom_features': hidden, 'message_steps': depth, 'output_layers': (hidden,)}
        self.make = lambda: make_model(name, 'mpnn', **options)
        self.model = self.make()
        self.train_smiles, self.labels = train_smiles, labels

    def train(self, epochs: int) -> tuple[float, float]:
        """Molecules per second per epoch (median over epochs), by wall clock and per CPU second."""
        inputs = self.scorer.transform_inputs(self.train_smiles)
        weights, history = self.scorer.retrain(self.scorer.prepare_message(self.model, training=True), inputs,
                                               self.labels, num_epochs=epochs, batch_size=32, validation_split=0.,
                                               patience=None)
        self.model = self.scorer.update(self.model, (weights, history))
        first = 1 if self.name == 'nfp' else 0  # NFP's first epoch traces the graph
        return (len(inputs) / statistics.median(history['epoch_time'][first:]),
                len(inputs) / statistics.median(history['epoch_cpu_time'][first:]))

    def score(self, smiles: list[str]) -> tuple[float, float]:
        """Molecules per second by wall clock and per CPU second, SMILES to scores."""
        message = self.scorer.prepare_message(self.model)
        self.scorer.score(message, self.scorer.transform_inputs(smiles[:64]))  # warm-up: build (and trace)
        wall, cpu = time.perf_counter(), time.process_time()
        self.scorer.score(message, self.scorer.transform_inputs(smiles))
        return len(smiles) / (time.perf_counter() - wall), len(smiles) / (time.process_time() - cpu)


def input_choice(side: Side, smiles: list[str]) -> dict[str, float]:
    """End-to-end seconds for chemprop with graphs made on the steering side versus SMILES."""
    from examol_chemprop.data import featurise

    scorer, message = side.scorer, side.scorer.prepare_message(side.model)
    start = time.perf_counter()
    graphs = featurise(scorer.transform_inputs(smiles))  # steering side
    blob = pickle.dumps(graphs, protocol=5)
    scorer.score(message, pickle.loads(blob))  # worker
    graph_time = time.perf_counter() - start
    start = time.perf_counter()
    text = pickle.dumps(scorer.transform_inputs(smiles), protocol=5)
    scorer.score(message, pickle.loads(text))
    smiles_time = time.perf_counter() - start
    start = time.perf_counter()
    featurise(smiles)
    featurise_time = time.perf_counter() - start
    return {'graphs_s': graph_time, 'smiles_s': smiles_time, 'graph_bytes': len(blob) / len(smiles),
            'smiles_bytes': len(text) / len(smiles), 'featurise_share': featurise_time / smiles_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer molecules and rounds')
    parser.add_argument('--hidden', type=int, default=64, help='width of both networks')
    parser.add_argument('--depth', type=int, default=3, help='message-passing steps of both networks')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    n_train, n_score, epochs = (300, 1000, 3) if args.quick else (1000, 4000, 5)
    rounds = 1 if args.quick else args.rounds
    one_thread()

    from rdkit import Chem

    train_smiles, score_smiles = read_smiles(n_train), read_smiles(n_score)
    labels = np.array([Chem.MolFromSmiles(s).GetNumHeavyAtoms() * 0.1 for s in train_smiles])
    sides = [Side(name, args.hidden, args.depth, train_smiles, labels) for name in ('chemprop', 'nfp')]
    results = {side.name: {'train': [], 'train_cpu': [], 'score': [], 'score_cpu': []} for side in sides}
    print(f'# chemprop vs NFP: hidden {args.hidden}, depth {args.depth}; {n_train} training molecules x {epochs} '
          f'epochs, {n_score} scored; {rounds} round(s), 1 thread each; load average {os.getloadavg()[0]:.1f}')
    for _ in range(rounds):
        for side in sides:
            wall, cpu = side.train(epochs)
            results[side.name]['train'].append(wall)
            results[side.name]['train_cpu'].append(cpu)
            wall, cpu = side.score(score_smiles)
            results[side.name]['score'].append(wall)
            results[side.name]['score_cpu'].append(cpu)
    keys = ('train', 'train_cpu', 'score', 'score_cpu')
    print('\n| scorer | training, wall (mol/s per epoch) | training per CPU second | scoring, SMILES to scores, wall '
          '(mol/s) | scoring per CPU second |')
    print('|---|---|---|---|---|')
    for name, r in results.items():
        print(f'| {name} | ' + ' | '.join(f'{statistics.median(r[key]):.0f}' for key in keys) + ' |')
    ratio = [statistics.median(results['chemprop'][key]) / statistics.median(results['nfp'][key]) for key in keys]
    print('| ratio chemprop/nfp | ' + ' | '.join(f'{r:.2f}' for r in ratio) + ' |')

    choice = input_choice(sides[0], score_smiles)
    print(f'\n## chemprop inputs, {n_score} molecules, one worker\n')
    print('| inputs | end to end (s) | bytes per molecule shipped |')
    print('|---|---|---|')
    print(f'| graphs made on the steering side | {choice["graphs_s"]:.2f} | {choice["graph_bytes"]:.0f} |')
    print(f'| SMILES, featurised on the worker | {choice["smiles_s"]:.2f} | {choice["smiles_bytes"]:.0f} |')
    print(f'\nFeaturising is {100 * choice["featurise_share"]:.0f}% of the SMILES path; with several workers it is '
          'spread over them, while graphs are made by the one steering process.')


if __name__ == '__main__':
    main()
