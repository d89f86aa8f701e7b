"""Training and inference loops over padded NumPy batches (runs where retrain and score run).

Batches come from :class:`~examol_nfp.data.PackedGraphs` with vectorised NumPy indexing: the
only Python work per batch is a handful of NumPy calls, never a loop over molecules. Training
batches group molecules of similar size (less padding, less wasted compute); inference sorts
molecules by size and restores the input order afterwards.
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
from examol_nfp.model import scale_layers  # noqa: E402

logger = logging.getLogger(__name__)

BATCH_SIGNATURE = {
    'atom': tf.TensorSpec((None, None), tf.int32, name='atom'),
    'bond': tf.TensorSpec((None, None), tf.int32, name='bond'),
    'connectivity': tf.TensorSpec((None, None, 2), tf.int32, name='connectivity'),
}
"""Shapes of a padded batch: traced once, whatever the batch and padding sizes."""

CONCURRENT_BATCHES = 2
"""Batches run at once during inference. TensorFlow shares one thread pool between them, so this
fills idle cores between small operations rather than adding threads that compete."""

__all__ = ['masked_mean_squared_error', 'masked_mean_squared_error_of_sum', 'make_predict_function', 'predict', 'train', 'initialise_scales',
           'TrainingGuard', 'TrainingDivergedError', 'BATCH_SIGNATURE']


def masked_mean_squared_error(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Mean squared error over the known labels only: NaN labels contribute nothing.

    Lets a record with only some levels of fidelity train the outputs it has.
    """
    y_true = tf.cast(y_true, y_pred.dtype)
    known = tf.math.is_finite(y_true)
    error = tf.where(known, y_pred - tf.where(known, y_true, tf.zeros_like(y_true)), tf.zeros_like(y_pred))
    count = tf.reduce_sum(tf.cast(known, y_pred.dtype))
    return tf.reduce_sum(tf.square(error)) / tf.maximum(count, 1.)


def _call_model(model: tf.keras.Model, batch: dict[str, tf.Tensor]) -> tf.Tensor:
    return model(batch, training=False)


def masked_mean_squared_error_of_sum(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """:func:`masked_mean_squared_error` between one label column and the sum of every output."""
    return masked_mean_squared_error(y_true, tf.reduce_sum(y_pred, axis=-1, keepdims=True))


def make_predict_function(model: tf.keras.Model) -> Callable[[dict[str, np.ndarray]], tf.Tensor]:
    """Inference on one padded batch, compiled once for any batch shape."""
    # A partial, not a closure: TensorFlow counts traces per code object and would warn about
    # "excessive retracing" once a worker has scored a few messages, each with its own network
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


class TrainingGuard(tf.keras.callbacks.Callback):
    """Keep the best epoch's weights and stop on patience, on a wall-clock timeout or on a non-finite loss.

    One callback rather than Keras' ``EarlyStopping`` + ``TerminateOnNaN``: those would restore
    the first epoch's weights even if its loss was NaN.

    Args:
        monitor: Log entry to minimise (``val_loss`` or ``loss``).
        patience: Epochs without improvement before stopping (``None``: never).
        timeout: Seconds of training before stopping (checked after each batch).
    """

    def __init__(self, monitor: str, patience: int | None, timeout: float | None):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.timeout = math.inf if timeout is None else timeout
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.best = math.inf
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.timed_out = self.diverged = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get('loss')
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = True
            self.model.stop_training = True
        if time.perf_counter() - self.start > self.timeout:
            self.timed_out = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)) and float(value) < self.best:
            self.best = float(value)
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
            self.wait = 0
            return
        self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochTimer(tf.keras.callbacks.Callback):
    """Adds ``epoch_time`` (wall-clock seconds) and ``epoch_cpu_time`` (CPU seconds of this process) to the logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._cpu = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs['epoch_time'] = time.perf_counter() - self._start
            logs['epoch_cpu_time'] = time.process_time() - self._cpu


def _dataset(make_batches: Callable[[], Any], packed: PackedGraphs, labels: np.ndarray) -> tf.data.Dataset:
    """A dataset of padded batches; ``make_batches()`` is called again for every epoch."""
    labels = labels.astype(np.float32)

    def generate():
        for indices in make_batches():
            yield packed.batch(indices), labels[indices]

    signature = (BATCH_SIGNATURE, tf.TensorSpec((None, labels.shape[1]), tf.float32))
    return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2)


def train(model: tf.keras.Model, packed: PackedGraphs, labels: np.ndarray, *, num_epochs: int, batch_size: int,
          validation_split: float, learning_rate: float, patience: int | None, timeout: float | None,
          verbose: bool, sum_outputs: bool = False, rng: np.random.Generator | None = None) -> dict[str, list[float]]:
    """Fit a network in place, restoring the weights of its best epoch.

    The learning rate follows a cosine decay from ``learning_rate`` to 1% of it over
    ``num_epochs``. Training stops after ``patience`` epochs without improvement, after
    ``timeout`` seconds, or when the loss becomes NaN; the best epoch's weights are kept. The monitored loss is the validation loss when a validation set is held out
    (``validation_split`` of the records, if that leaves at least one record on each side),
    otherwise the training loss.

    Args:
        labels: ``(n, outputs)`` targets, NaN where unknown; ``(n, 1)`` with ``sum_outputs``.
        sum_outputs: Fit the sum of the network's outputs to the single label column.
    Returns:
        The Keras history: ``loss`` (and ``val_loss``), ``lr``, ``epoch_time`` and ``epoch_cpu_time`` per epoch.
    Raises:
        TrainingDivergedError: no epoch ended with a finite loss.
    """
    rng = np.random.default_rng() if rng is None else rng
    n = len(packed)
    num_val = int(n * validation_split)
    order = rng.permutation(n)
    if num_val < 1 or n - num_val < 1:
        train_idx, val_idx = order, order[:0]
    else:
        train_idx, val_idx = np.sort(order[num_val:]), np.sort(order[:num_val])
    train_set = packed.subset(train_idx)
    train_labels = labels[train_idx]
    train_data = _dataset(lambda: bucketed_batches(train_set.n_atoms, batch_size, rng), train_set, train_labels)
    val_data = None
    if len(val_idx):
        val_set = packed.subset(val_idx)
        val_order = size_sorted_order(val_set.n_atoms, val_set.n_bonds)
        val_batches = [val_order[i:i + batch_size] for i in range(0, len(val_order), batch_size)]
        val_data = _dataset(lambda: val_batches, val_set, labels[val_idx])

    monitor = 'val_loss' if val_data is not None else 'loss'
    floor = 0.01 * learning_rate

    def schedule(epoch: int, lr: float) -> float:
        return floor + 0.5 * (learning_rate - floor) * (1 + math.cos(math.pi * epoch / max(num_epochs, 1)))

    guard = TrainingGuard(monitor, patience, timeout)
    callbacks = [EpochTimer(), tf.keras.callbacks.LearningRateScheduler(schedule), guard]
    loss = masked_mean_squared_error_of_sum if sum_outputs else masked_mean_squared_error
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss)
    result = model.fit(train_data, validation_data=val_data, epochs=num_epochs, callbacks=callbacks,
                       verbose=2 if verbose else 0)
    if guard.best_weights is None:
        raise TrainingDivergedError(f'Training diverged: the {monitor} was never finite (learning_rate={learning_rate}, '
                                    f'{len(result.epoch)} epoch(s)). Lower the learning rate or check the labels')
    if guard.timed_out:
        logger.warning(f'Training stopped by the timeout of {timeout} s after {len(result.epoch)} epoch(s); '
                       f'kept the weights of epoch {guard.best_epoch + 1}')
    elif guard.diverged:
        logger.warning(f'Training stopped at epoch {len(result.epoch)}: the loss became NaN or infinite; '
                       f'kept the weights of epoch {guard.best_epoch + 1}')
    history = {key: [float(v) for v in values] for key, values in result.history.items()}
    return history

