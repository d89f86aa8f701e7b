"""Adam as one fused operation per variable: the same update as Keras's Adam, far cheaper to trace.

A fresh worker's first short retrain pays for tracing its training step. Keras's Adam
(``tf.keras.optimizers.Adam`` of tf-keras) adds about ten graph operations per variable, and
tracing them took about 1.3 s of a 2-epoch retrain on 1,000 molecules, as long as tracing the
network's gradients. TensorFlow's ``ResourceApplyAdam`` kernel does the same update in one.
"""
from __future__ import annotations

from collections.abc import Iterable

import examol_nfp

examol_nfp.require_legacy_keras()

import tensorflow as tf  # noqa: E402

__all__ = ['FusedAdam', 'BETA_1', 'BETA_2', 'EPSILON']

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7
"""Keras's defaults for Adam."""


class FusedAdam:
    """Adam with Keras's defaults, as one ``ResourceApplyAdam`` operation per variable.

    Each step: ``m += (g - m)(1 - beta_1)``, ``v += (g² - v)(1 - beta_2)`` and
    ``w -= lr √(1 - beta_2^t) / (1 - beta_1^t) · m / (√v + epsilon)``, as ``tf.keras.optimizers.Adam``
    does; sparse gradients (of embeddings) update every row, which is the same arithmetic.

    Args:
        variables: The variables it updates, in the order :meth:`apply_gradients` receives them.
        learning_rate: Initial learning rate (a variable: assign to change it).
    """

    def __init__(self, variables: list[tf.Variable], learning_rate: float):
        self.learning_rate = tf.Variable(learning_rate, dtype=tf.float32, trainable=False)
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._first = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self._second = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.variables = [self.iterations, *self._first, *self._second]
        """State to reset between retrains (not the learning rate, which training sets each epoch)."""

    def apply_gradients(self, grads_and_vars: Iterable[tuple[tf.Tensor | None, tf.Variable]]) -> None:
        """One Adam step for each variable that has a gradient."""
        self.iterations.assign_add(1)
        step = tf.cast(self.iterations, tf.float32)
        beta1_power, beta2_power = tf.pow(BETA_1, step), tf.pow(BETA_2, step)
        for (gradient, variable), first, second in zip(grads_and_vars, self._first, self._second, strict=True):
            if gradient is None:
                continue
            if isinstance(gradient, tf.IndexedSlices):  # densified explicitly, without TensorFlow's warning
                gradient = tf.math.unsorted_segment_sum(gradient.values, gradient.indices, tf.shape(variable)[0])
            tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=first.handle, v=second.handle, beta1_power=beta1_power,
                                         beta2_power=beta2_power, lr=self.learning_rate, beta1=BETA_1, beta2=BETA_2,
                                         epsilon=EPSILON, grad=gradient)
