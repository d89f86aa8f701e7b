"""Training and inference loops over padded NumPy batches (runs where retrain and score run).

Batches come from :class:`~examol_nfp.data.PackedGraphs` with vectorised NumPy indexing: the
only Python work per batch is a handful of NumPy calls and one call of a compiled function,
never a loop over molecules. Training batches are random draws (grouping molecules of similar
size saved padding but slowed learning several-fold: properties correlate with size); inference
sorts molecules by size, runs two batches at once and restores the input order afterwards.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import examol_nfp
from examol_core.errors import ExamolError

examol_nfp.require_legacy_keras()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from examol_nfp.data import PackedGraphs, bucketed_batches, size_sorted_order  # noqa: E402
from examol_nfp.forward import plain_forward  # noqa: E402
from examol_nfp.model import scale_layers  # noqa: E402
from examol_nfp.steps import BATCH_SIGNATURE, TrainingSteps, squared_errors  # noqa: E402

logger = logging.getLogger(__name__)

CONCURRENT_BATCHES = 2
"""Batches run at once during inference. TensorFlow shares one thread pool between them, so this
fills idle cores between small operations rather than adding threads that compete."""

__all__ = ['masked_mean_squared_error', 'make_predict_function', 'predict', 'train', 'initialise_scales', 'BestEpoch',
           'cosine_schedule', 'TrainingDivergedError', 'BATCH_SIGNATURE']


def masked_mean_squared_error(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Mean squared error over the known labels only: NaN labels contribute nothing.

    Lets a record with only some levels of fidelity train the outputs it has. A Keras loss, for
    those who fit the network with ``model.fit``; :func:`train` computes the same quantity.
    """
    sse, count = squared_errors(tf.cast(y_true, y_pred.dtype), y_pred, sum_outputs=False)
    return sse / tf.maximum(count, 1.)


def _call_model(model: tf.keras.Model, batch: dict[str, tf.Tensor]) -> tf.Tensor:
    return model(batch, training=False)


def _call_forward(forward: Callable[[dict[str, tf.Tensor]], tf.Tensor], batch: dict[str, tf.Tensor]) -> tf.Tensor:
    return forward(batch)


def make_predict_function(model: tf.keras.Model) -> Callable[[dict[str, np.ndarray]], tf.Tensor]:
    """Inference on one padded batch, compiled once for any batch shape.

    Runs the plain-TensorFlow forward pass (:func:`examol_nfp.forward.plain_forward`) when the
    network allows: the same values, a fraction of the operations to trace and run.
    """
    # A partial, not a closure: TensorFlow counts traces per code object and would warn about
    # "excessive retracing" once a worker has scored a few messages, each with its own network
    forward = plain_forward(model)
    if forward is not None:  # no AutoGraph: no data-dependent Python control flow to convert
        return tf.function(functools.partial(_call_forward, forward), input_signature=[BATCH_SIGNATURE],
                           autograph=False)
    return tf.function(functools.partial(_call_model, model), input_signature=[BATCH_SIGNATURE])


def predict(predict_batch: Callable[[dict[str, np.ndarray]], Any], packed: PackedGraphs,
            batch_size: int, concurrency: int = CONCURRENT_BATCHES) -> np.ndarray:
    """Run a network over every molecule; rows come back in input order.

    Molecules are batched in order of size, so each batch needs little padding, and
    ``concurrency`` batches run at once: one batch rarely keeps every core busy.

    Returns:
        ``(len(packed), outputs)`` float array.
    """
    order = size_sorted_order(packed.n_atoms, packed.n_bonds)
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

    def run(indices: np.ndarray) -> np.ndarray:
        return np.asarray(predict_batch(packed.batch(indices)))

    if concurrency > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(min(concurrency, len(chunks)), thread_name_prefix='examol-nfp-predict') as pool:
            results = list(pool.map(run, chunks))
    else:
        results = [run(chunk) for chunk in chunks]
    if not results:
        return np.zeros((0, 0))
    predictions = np.concatenate(results)
    out = np.empty_like(predictions)
    out[order] = predictions
    return out


def initialise_scales(model: tf.keras.Model, labels: np.ndarray) -> None:
    """Set each ``scale_{i}`` layer to the standard deviation (weight) and mean (bias) of label column ``i``.

    The rest of the network then only has to learn unit-scale values. NaN labels are ignored;
    a column with no spread gets a weight of 1.
    """
    for i, layer in enumerate(scale_layers(model)):
        column = labels[:, i]
        column = column[np.isfinite(column)]
        mean = float(column.mean()) if len(column) else 0.
        std = float(column.std()) if len(column) > 1 else 0.
        if not math.isfinite(std) or std < 1e-8:
            std = 1.
        kernel, bias = layer.get_weights()
        layer.set_weights([np.full_like(kernel, std), np.full_like(bias, mean)])


class TrainingDivergedError(ExamolError, RuntimeError):
    """Training never reached a finite loss (learning rate too high, or labels far off scale)."""


class BestEpoch:
    """Track the best epoch's weights and decide when to stop for lack of improvement.

    Non-finite losses never count as the best, so a run that diverges keeps the last good weights.

    Args:
        patience: Epochs without improvement before stopping (``None``: never).
    """

    def __init__(self, patience: int | None):
        self.patience = patience
        self.best = math.inf
        self.epoch: int | None = None
        self.weights: list[np.ndarray] | None = None
        self.wait = 0

    def update(self, epoch: int, value: float, get_weights: Callable[[], list[np.ndarray]]) -> bool:
        """Record an epoch's monitored loss; returns whether training should stop."""
        if math.isfinite(value) and value < self.best:
            self.best, self.epoch, self.weights, self.wait = value, epoch, get_weights(), 0
            return False
        self.wait += 1
        return self.patience is not None and self.wait >= self.patience


def cosine_schedule(learning_rate: float, num_epochs: int) -> Callable[[int], float]:
    """Learning rate per epoch: cosine decay from ``learning_rate`` to 1% of it over ``num_epochs``."""
    floor = 0.01 * learning_rate

    def schedule(epoch: int) -> float:
        return floor + 0.5 * (learning_rate - floor) * (1 + math.cos(math.pi * epoch / max(num_epochs, 1)))

    return schedule


def train(model: tf.keras.Model | TrainingSteps, packed: PackedGraphs, labels: np.ndarray, *, num_epochs: int,
          batch_size: int, validation_split: float, learning_rate: float, patience: int | None, timeout: float | None,
          verbose: bool, sum_outputs: bool = False, rng: np.random.Generator | None = None) -> dict[str, list[float]]:
    """Fit a network in place with Adam, keeping the weights of its best epoch.

    ``model`` is a network, or :class:`~examol_nfp.steps.TrainingSteps` holding one and its
    already compiled steps (reused between retrains on a worker; its optimiser state is reset here).

    A plain loop over padded NumPy batches calling one compiled training step: no
    ``tf.data`` pipeline and no per-batch Keras callbacks. The learning rate follows
    :func:`cosine_schedule`. Training stops after ``patience`` epochs without improvement, after
    ``timeout`` seconds (checked after each batch) or when the loss becomes NaN or infinite.
    Losses are mean squared errors over the known (non-NaN) labels of the whole epoch.

    With a validation set (``validation_split`` of the records, if that leaves at least one record
    on each side), the validation loss is monitored and the weights of its best epoch are kept.
    Without one, the monitored training loss is averaged while the weights change within the
    epoch, so it does not describe any one set of weights (at a high learning rate the weights
    that end an epoch with a low running loss can be much worse): the weights of the last epoch
    are kept, or those of the last finite epoch if training diverged.

    Args:
        labels: ``(n, outputs)`` targets, NaN where unknown; ``(n, 1)`` with ``sum_outputs``.
        sum_outputs: Fit the sum of the network's outputs to the single label column.
        rng: Shuffles batches and picks the validation set (default: seeded from NumPy's global
            random state, which ``tf.keras.utils.set_random_seed`` also seeds).
    Returns:
        The history: ``loss`` (and ``val_loss``), ``lr``, ``epoch_time`` and ``epoch_cpu_time`` per epoch.
    Raises:
        TrainingDivergedError: no epoch ended with a finite loss.
    """
    if rng is None:  # from NumPy's global state, so tf.keras.utils.set_random_seed makes runs repeatable
        rng = np.random.default_rng(np.random.randint(2 ** 31 - 1))
    labels = np.asarray(labels, dtype=np.float32)
    n = len(packed)
    num_val = int(n * validation_split)
    order = rng.permutation(n)
    if num_val < 1 or n - num_val < 1:
        train_idx, val_idx = order, order[:0]
    else:
        train_idx, val_idx = np.sort(order[num_val:]), np.sort(order[:num_val])
    train_set, train_labels = packed.subset(train_idx), labels[train_idx]
    validating = len(val_idx) > 0
    if validating:
        val_set, val_labels = packed.subset(val_idx), labels[val_idx]
    monitor = 'val_loss' if validating else 'loss'

    steps = model if isinstance(model, TrainingSteps) else TrainingSteps(model, labels.shape[1], sum_outputs)
    steps.reset()  # a fresh optimiser state, whatever an earlier retrain left in reused steps
    model, optimizer, train_step = steps.model, steps.optimizer, steps.train_step

    schedule = cosine_schedule(learning_rate, num_epochs)
    best = BestEpoch(patience)
    history: dict[str, list[float]] = {'loss': [], **({'val_loss': []} if validating else {}), 'lr': [],
                                       'epoch_time': [], 'epoch_cpu_time': []}
    deadline = time.perf_counter() + (math.inf if timeout is None else timeout)
    timed_out = diverged = False
    kept: tuple[int, list[np.ndarray]] | None = None  # (epoch, weights) to end with
    for epoch in range(num_epochs):
        start, cpu = time.perf_counter(), time.process_time()
        lr = schedule(epoch)
        optimizer.learning_rate.assign(lr)
        sse_total = count_total = 0.
        # Random batches: batches of molecules of similar size (less padding) learned far slower, because
        # molecular properties correlate with size and the network then mostly chased each batch's mean
        for indices in bucketed_batches(train_set.n_atoms, batch_size, rng, batches_per_bucket=1,
                                        n_bonds=train_set.n_bonds):
            sse, count = train_step(train_set.batch(indices), train_labels[indices]).numpy()
            sse_total += float(sse)
            count_total += float(count)
            if not math.isfinite(sse_total):
                diverged = True
                break
            if time.perf_counter() > deadline:
                timed_out = True
                break
        epoch_loss = sse_total / max(count_total, 1.)
        history['loss'].append(epoch_loss)
        if validating:
            totals = steps.evaluate(val_set, val_labels, batch_size)
            history['val_loss'].append(totals[0] / max(totals[1], 1.))
        history['lr'].append(lr)
        history['epoch_time'].append(time.perf_counter() - start)
        history['epoch_cpu_time'].append(time.process_time() - cpu)
        if verbose:
            shown = ', '.join(f'{key}={values[-1]:.4g}' for key, values in history.items())
            print(f'Epoch {epoch + 1}/{num_epochs}: {shown}', flush=True)
        if validating:
            stop = best.update(epoch, history['val_loss'][-1], model.get_weights)
        else:  # the training loss only decides when to stop; keep the latest finite weights
            stop = best.update(epoch, epoch_loss, lambda: None)
            if not diverged:
                weights = model.get_weights()
                if all(np.isfinite(w).all() for w in weights):
                    kept = (epoch, weights)
        if stop or timed_out or diverged:
            break

    if validating and best.weights is not None:
        kept = (best.epoch, best.weights)
    if kept is None:
        raise TrainingDivergedError(f'Training diverged: the {monitor} was never finite (learning_rate={learning_rate}, '
                                    f'{len(history["loss"])} epoch(s)). Lower the learning rate or check the labels')
    model.set_weights(kept[1])
    if timed_out:
        logger.warning(f'Training stopped by the timeout of {timeout} s after {len(history["loss"])} epoch(s); '
                       f'kept the weights of epoch {kept[0] + 1}')
    elif diverged:
        logger.warning(f'Training stopped at epoch {len(history["loss"])}: the loss became NaN or infinite; '
                       f'kept the weights of epoch {kept[0] + 1}')
    return history
