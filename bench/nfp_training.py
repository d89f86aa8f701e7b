"""Throughput of the NFP scorer's input pipeline against a ``tf.data.Dataset.from_generator`` pipeline.

For a 32-feature, 4-step network on molecules from the redoxmers search space, prints
molecules/second for ``transform_inputs``, for training (per epoch, first epoch excluded because
it traces the graph) and for inference, for both pipelines over the same graph dictionaries and
the same network, plus peak memory. Measurements alternate between the two pipelines round by
round, so load from other processes on a shared machine affects both alike. Rates are given by
wall clock (what a user waits) and per CPU-second of this process (steadier when other processes
share the cores; it does not credit running two inference batches at once on two cores).

Run from the repository root::

    python bench/nfp_training.py            # 2,000 molecules for training, 10,000 for inference
    python bench/nfp_training.py --quick    # a smaller, faster run

Targets: inference at least 3x and training at least 1.5x the generator pipeline.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import examol_nfp  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SMILES = 'examol_core/data/search-space.smi'  # a copy of ../shared/data/redoxmers-search-space.smi


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_smiles(path: Path, count: int) -> list[str]:
    """``count`` SMILES from ``path``, cycling through the file if it is shorter."""
    lines = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    return [lines[i % len(lines)] for i in range(count)]


def epoch_timer():
    """A Keras callback adding ``epoch_time`` and ``epoch_cpu_time`` to the baseline's history."""
    import tensorflow as tf

    class EpochTimer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            logs['epoch_time'] = time.perf_counter() - self.start
            logs['epoch_cpu_time'] = time.process_time() - self.cpu

    return EpochTimer()


def generator_dataset(graphs, labels=None, batch_size=32, shuffle=False):
    """The baseline: one Python generator step per molecule, padded by ``padded_batch``."""
    import tensorflow as tf

    signature = {'atom': tf.TensorSpec((None,), tf.int32), 'bond': tf.TensorSpec((None,), tf.int32),
                 'connectivity': tf.TensorSpec((None, 2), tf.int32)}
    if labels is None:
        def generate():
            yield from graphs
    else:
        def generate():
            yield from zip(graphs, labels)
        signature = (signature, tf.TensorSpec((1,), tf.float32))
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    if shuffle:
        dataset = dataset.shuffle(len(graphs))
    return dataset.padded_batch(batch_size)


def report(what: str, count: int, ours: list[tuple[float, float]], theirs: list[tuple[float, float]],
           target: float) -> None:
    """Print molecules/s by wall clock and by CPU time for both pipelines, and their ratios."""
    rates = {}
    for name, times in (('ours', ours), ('theirs', theirs)):
        rates[name] = (count / statistics.median(t[0] for t in times), count / statistics.median(t[1] for t in times))
    print(f'{what}:')
    print(f'  examol-nfp      {rates["ours"][0]:8,.0f} molecules/s wall, {rates["ours"][1]:8,.0f} per CPU-second')
    print(f'  from_generator  {rates["theirs"][0]:8,.0f} molecules/s wall, {rates["theirs"][1]:8,.0f} per CPU-second')
    print(f'  ratio           {rates["ours"][0] / rates["theirs"][0]:8.2f}x wall '
          f'(target {target}x), {rates["ours"][1] / rates["theirs"][1]:5.2f}x CPU time; '
          f'peak memory so far {peak_memory_mb():,.0f} MB')


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--smiles', default=DEFAULT_SMILES,
                        help='SMILES file, one per line; relative paths resolve from the repository root')
    parser.add_argument('--quick', action='store_true', help='fewer molecules, epochs and rounds')
    parser.add_argument('--train-size', type=int, default=2000)
    parser.add_argument('--infer-size', type=int, default=10000)
    parser.add_argument('--epochs', type=int, default=4, help='epochs per training round (the first is not timed)')
    parser.add_argument('--rounds', type=int, default=2, help='alternating rounds of each measurement')
    parser.add_argument('--batch-size', type=int, default=32, help='training batch size')
    parser.add_argument('--score-batch-size', type=int, default=256, help='inference batch size')
    parser.add_argument('--features', type=int, default=32)
    parser.add_argument('--steps', type=int, default=4)
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.infer_size, args.epochs, args.rounds = 500, 2000, 3, 1

    path = Path(args.smiles)
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    if not path.exists():
        parser.error(f'SMILES file not found: {path}')

    import tensorflow as tf
    from examol_nfp import NFPMessage, NFPScorer, make_simple_network
    from examol_nfp.message import model_from_arrays
    from examol_nfp.training import masked_mean_squared_error

    scorer = NFPScorer()
    print(f'Molecules from {path}; network: {args.features} features, {args.steps} message steps; '
          f'TensorFlow {tf.__version__}')

    # Transform: unique SMILES, converted to graphs
    unique = list(dict.fromkeys(read_smiles(path, max(args.train_size, args.infer_size))))
    start = time.perf_counter()
    graphs = scorer.transform_inputs(unique)
    transform_rate = len(unique) / (time.perf_counter() - start)
    print(f'transform_inputs: {transform_rate:,.0f} molecules/s over {len(unique)} molecules '
          f'(peak memory {peak_memory_mb():,.0f} MB)')
    by_smiles = dict(zip(unique, graphs, strict=True))

    train_graphs = [by_smiles[s] for s in read_smiles(path, args.train_size)]
    infer_graphs = [by_smiles[s] for s in read_smiles(path, args.infer_size)]
    rng = np.random.default_rng(1)
    labels = np.array([len(g['atom']) for g in train_graphs], dtype=float) + rng.normal(size=len(train_graphs))

    network = make_simple_network(atom_features=args.features, message_steps=args.steps)
    architecture = network.to_json()

    # Training, alternating pipelines each round
    ours, theirs = [], []
    for _ in range(args.rounds):
        _, history = scorer.retrain(architecture, train_graphs, labels, num_epochs=args.epochs,
                                    batch_size=args.batch_size, validation_split=0., patience=None)
        ours.extend(zip(history['epoch_time'][1:], history['epoch_cpu_time'][1:]))

        baseline = model_from_arrays(architecture)
        baseline.compile(tf.keras.optimizers.Adam(1e-3), loss=masked_mean_squared_error)
        result = baseline.fit(generator_dataset(train_graphs, labels[:, None].astype(np.float32),
                                                args.batch_size, shuffle=True),
                              epochs=args.epochs, callbacks=[epoch_timer()], verbose=0)
        theirs.extend(zip(result.history['epoch_time'][1:], result.history['epoch_cpu_time'][1:]))
    report(f'training ({args.train_size} molecules per epoch, batch {args.batch_size}, median of {len(ours)} epochs '
           'after the first)', args.train_size, ours, theirs, target=1.5)

    # Inference with the same weights in both pipelines
    message = NFPMessage.from_model(network)
    model = message.get_model()
    scorer.score(message, infer_graphs[:args.score_batch_size], batch_size=args.score_batch_size)  # trace
    model.predict(generator_dataset(infer_graphs[:args.score_batch_size], batch_size=args.score_batch_size),
                  verbose=0)  # trace
    ours, theirs = [], []
    for _ in range(args.rounds):
        start, cpu = time.perf_counter(), time.process_time()
        ours_pred = scorer.score(message, infer_graphs, batch_size=args.score_batch_size)
        ours.append((time.perf_counter() - start, time.process_time() - cpu))
        start, cpu = time.perf_counter(), time.process_time()
        theirs_pred = model.predict(generator_dataset(infer_graphs, batch_size=args.score_batch_size), verbose=0)
        theirs.append((time.perf_counter() - start, time.process_time() - cpu))
    report(f'inference ({args.infer_size} molecules, batch {args.score_batch_size}, median of {len(ours)} runs)',
           args.infer_size, ours, theirs, target=3.)
    # The generator pipeline pads connectivity with 0, so padding bonds reach atom 0 and its
    # predictions depend on the batch; ours must not
    print(f'max |difference| between pipelines: {np.abs(ours_pred - theirs_pred[:, 0]).max():.2e} '
          '(nonzero: the generator pipeline lets padding reach real atoms)')
    print(f'peak memory: {peak_memory_mb():,.0f} MB')


if __name__ == '__main__':
    main()
