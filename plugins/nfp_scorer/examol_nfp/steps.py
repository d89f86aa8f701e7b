"""Compiled training steps, kept by each worker process and reused by later retrains.

Tracing a training step (the network's forward pass and its gradients) is most of the cost of a
short retrain: on 1,000 molecules, two epochs of a 32-feature network take a few seconds, and
tracing takes longer. A worker that retrains the same architecture again (the usual case in an
active-learning campaign) takes :class:`TrainingSteps` from a small per-process cache keyed by
the architecture, loads the new starting weights into it and resets the optimiser: no rebuild,
no re-trace. A retrain running while another holds the entry builds its own; nothing is shared
between concurrent retrains.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import examol_nfp

examol_nfp.require_legacy_keras()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from examol_nfp.adam import FusedAdam  # noqa: E402
from examol_nfp.data import PackedGraphs, size_sorted_order  # noqa: E402
from examol_nfp.forward import Forward, plain_forward  # noqa: E402

__all__ = ['BATCH_SIGNATURE', 'TrainingSteps', 'training_steps', 'squared_errors', 'TRAINER_CACHE_SIZE',
           'unoptimised_graphs', 'EAGER_EVALUATIONS']

BATCH_SIGNATURE = {
    'atom': tf.TensorSpec((None, None), tf.int32, name='atom'),
    'bond': tf.TensorSpec((None, None), tf.int32, name='bond'),
    'connectivity': tf.TensorSpec((None, None, 2), tf.int32, name='connectivity'),
}
"""Shapes of a padded batch: traced once, whatever the batch and padding sizes."""

EAGER_EVALUATIONS = 4
"""Validation passes each :class:`TrainingSteps` runs eagerly, in batches of up to
:data:`EAGER_BATCH` molecules, before tracing its evaluation step. Tracing it and its first call
cost about as much as eight eager passes over 100 molecules; a short retrain makes only a few."""

EAGER_BATCH = 1024
"""Molecules per eagerly evaluated batch: few, large batches keep the per-call overhead low."""

TRAINER_CACHE_SIZE = 2
"""Idle :class:`TrainingSteps` kept per process (each holds a network and its traced steps)."""


def squared_errors(y_true: tf.Tensor, y_pred: tf.Tensor, sum_outputs: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """Sum of squared errors over known labels, and how many labels were known."""
    if sum_outputs:
        y_pred = tf.reduce_sum(y_pred, axis=-1, keepdims=True)
    known = tf.math.is_finite(y_true)
    error = tf.where(known, y_pred - tf.where(known, y_true, tf.zeros_like(y_true)), tf.zeros_like(y_pred))
    return tf.reduce_sum(tf.square(error)), tf.reduce_sum(tf.cast(known, y_pred.dtype))


def _keras_forward(model: tf.keras.Model, training: bool, batch: dict[str, tf.Tensor]) -> tf.Tensor:
    return model(batch, training=training)


def _train_step(model: tf.keras.Model, forward: Forward, optimizer: FusedAdam, sum_outputs: bool,
                batch: dict[str, tf.Tensor], y: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        sse, count = squared_errors(y, forward(batch), sum_outputs)
        loss = sse / tf.maximum(count, 1.)
        if model.losses:
            loss += tf.add_n(model.losses)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return tf.stack([sse, count])


def _eval_step(forward: Forward, sum_outputs: bool, batch: dict[str, tf.Tensor], y: tf.Tensor) -> tf.Tensor:
    return tf.stack(squared_errors(y, forward(batch), sum_outputs))


class TrainingSteps:
    """A network, its Adam optimiser and its compiled training and evaluation steps.

    Args:
        model: The network; trained in place.
        label_columns: Columns of the labels (the network's outputs, or 1 with ``sum_outputs``).
        sum_outputs: Fit the sum of the network's outputs to a single label column.
    """

    def __init__(self, model: tf.keras.Model, label_columns: int, sum_outputs: bool):
        self.model = model
        self.sum_outputs = sum_outputs
        self.evaluations = 0
        # Its variables are created now: a tf.function that creates variables on its first call is
        # traced twice, and tracing is the slowest part of a short retrain
        self.optimizer = FusedAdam(model.trainable_variables, 1e-3)
        # The forward pass in plain TensorFlow when the network's layers allow (a fraction of the
        # operations to trace and run), else the Keras model itself
        self.plain = plain_forward(model)
        self._forward = {training: self.plain or functools.partial(_keras_forward, model, training)
                         for training in (True, False)}
        spec = [BATCH_SIGNATURE, tf.TensorSpec((None, label_columns), tf.float32)]
        # Partials, not closures: TensorFlow counts traces per code object and would warn about
        # "excessive retracing" once a worker has built a few of these
        # No AutoGraph: the steps and nfp's layers have no data-dependent Python control flow, and
        # converting every layer's code took about a tenth of the tracing time
        self.train_step = tf.function(functools.partial(_train_step, model, self._forward[True], self.optimizer,
                                                        sum_outputs),
                                      input_signature=spec, autograph=False)
        self.eval_step = tf.function(functools.partial(_eval_step, self._forward[False], sum_outputs),
                                     input_signature=spec, autograph=False)

    def evaluate(self, packed: PackedGraphs, labels: np.ndarray, batch_size: int) -> np.ndarray:
        """Sum of squared errors and count of known labels over ``packed``, as a ``(2,)`` array.

        The first :data:`EAGER_EVALUATIONS` passes of these steps run eagerly, later ones in the
        traced evaluation step with batches of ``batch_size`` molecules.
        """
        eager = self.evaluations < EAGER_EVALUATIONS
        self.evaluations += 1
        step = functools.partial(_eval_step, self._forward[False], self.sum_outputs) if eager else self.eval_step
        size = EAGER_BATCH if eager else batch_size
        order = size_sorted_order(packed.n_atoms, packed.n_bonds)
        totals = np.zeros(2)
        for start in range(0, len(order), size):
            indices = order[start:start + size]
            totals += np.asarray(step(packed.batch(indices), labels[indices]), dtype=float)
        return totals

    def reset(self, weights: list[np.ndarray] | None = None) -> None:
        """Start again from ``weights`` (``None``: keep the network's) with a fresh optimiser state."""
        if weights is not None:
            self.model.set_weights(weights)
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))


@contextmanager
def unoptimised_graphs() -> Iterator[None]:
    """Run compiled functions called in this block, on this thread, without Grappler's graph rewrites.

    Grappler optimises a function's graph on its first call: for the training step that took 1.5-2 s
    of a 2-epoch retrain on 1,000 molecules (loaded 2-core machine) and made no measurable
    difference to the time per step afterwards. TensorFlow has no public per-function switch; the
    thread's function-call options are what ``tf.config.optimizer.set_experimental_options`` would
    change for the whole process, so only this thread's are changed, and restored on exit. Calls
    made under the same options reuse the same instantiation, so later retrains pay nothing again.
    """
    from tensorflow.python.eager import context

    ctx = context.context()
    saved = ctx.function_call_options
    options = copy.copy(saved)
    config = tf.compat.v1.ConfigProto.FromString(saved.config_proto_serialized)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    options.config_proto_serialized = config
    ctx.function_call_options = options
    try:
        yield
    finally:
        ctx.function_call_options = saved


_idle: OrderedDict[tuple[str, int, bool], list[TrainingSteps]] = OrderedDict()
_idle_lock = threading.Lock()


def _architecture_key(config: str, label_columns: int, sum_outputs: bool) -> tuple[str, int, bool]:
    return hashlib.blake2b(config.encode(), digest_size=16).hexdigest(), label_columns, sum_outputs


@contextmanager
def training_steps(config: str, label_columns: int, sum_outputs: bool,
                   model: tf.keras.Model | None = None) -> Iterator[TrainingSteps]:
    """Training steps for a network of architecture ``config`` (its ``to_json()``), reused when possible.

    The caller sets the starting weights with :meth:`TrainingSteps.reset`; the weights the entry
    held before are those of an earlier retrain. The entry returns to the cache when the block
    ends, unless it ended with an error. When nothing can be reused, new steps train ``model``
    (a network of that architecture the caller no longer needs) if given: building a network
    takes about a second, a large part of a fresh worker's first short retrain.
    """
    from examol_nfp.message import model_from_arrays

    key = _architecture_key(config, label_columns, sum_outputs)
    with _idle_lock:
        pool = _idle.get(key)
        steps = pool.pop() if pool else None
        if pool is not None and not pool:
            del _idle[key]
    if steps is None:
        steps = TrainingSteps(model_from_arrays(config) if model is None else model, label_columns, sum_outputs)
    yield steps
    with _idle_lock:
        _idle.setdefault(key, []).append(steps)
        _idle.move_to_end(key)
        while sum(len(p) for p in _idle.values()) > TRAINER_CACHE_SIZE:
            oldest = next(iter(_idle))
            _idle[oldest].pop(0)
            if not _idle[oldest]:
                del _idle[oldest]
