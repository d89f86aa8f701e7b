"""The message-passing network: nfp layers in a ``tf.keras`` (Keras 2) functional model.

Masking is explicit. The network never relies on Keras' implicit masks (which Keras 3 drops
silently for nfp's layers): padding is kept away from real atoms by the batch layout (see
:mod:`examol_nfp.data`), the attention of ``GlobalUpdate`` receives masks computed from the
atom and bond types, and the reduction from atoms to molecules is a masked mean (or sum, max,
min) over real atoms. A molecule's prediction therefore does not depend on its batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import examol_nfp

examol_nfp.require_legacy_keras()

import nfp  # noqa: E402
import tensorflow as tf  # noqa: E402

from examol_nfp.data import NUM_ATOM_TYPES, NUM_BOND_TYPES  # noqa: E402

REDUCTIONS = ('mean', 'sum', 'max', 'min')

__all__ = ['make_simple_network', 'PaddingMask', 'MaskedReduce', 'custom_objects', 'REDUCTIONS',
           'output_count', 'scale_layers']


class PaddingMask(tf.keras.layers.Layer):
    """``True`` where a padded atom or bond type is real (type code > 0)."""

    def call(self, inputs):
        return tf.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return input_shape


class MaskedReduce(tf.keras.layers.Layer):
    """Reduce atom-level values to one vector per molecule, over real atoms only.

    Called on ``[values, mask]``: values ``(batch, atoms, features)``, mask ``(batch, atoms)``.

    Args:
        reduction: ``mean``, ``sum``, ``max`` or ``min``.
    """

    def __init__(self, reduction: str = 'mean', **kwargs):
        super().__init__(**kwargs)
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction must be one of {REDUCTIONS}; got {reduction!r}')
        self.reduction = reduction

    def get_config(self):
        config = super().get_config()
        config['reduction'] = self.reduction
        return config

    def call(self, inputs):
        values, mask = inputs
        mask = tf.expand_dims(tf.cast(mask, values.dtype), -1)
        if self.reduction in ('mean', 'sum'):
            total = tf.reduce_sum(values * mask, axis=1)
            if self.reduction == 'sum':
                return total
            return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.)
        fill = values.dtype.min if self.reduction == 'max' else values.dtype.max
        masked = tf.where(mask > 0, values, tf.fill(tf.shape(values), tf.cast(fill, values.dtype)))
        return tf.reduce_max(masked, axis=1) if self.reduction == 'max' else tf.reduce_min(masked, axis=1)

    def compute_output_shape(self, input_shape):
        values_shape = input_shape[0]
        return (values_shape[0], values_shape[-1])


custom_objects = {**nfp.custom_objects, 'PaddingMask': PaddingMask, 'MaskedReduce': MaskedReduce}
"""Everything ``tf.keras.models.model_from_json`` needs to rebuild a network from this module."""


def make_simple_network(atom_features: int = 64,
                        message_steps: int = 8,
                        output_layers: Sequence[int] = (512, 256, 128),
                        reduce_op: str = 'mean',
                        atomwise: bool = True,
                        outputs: int = 1) -> tf.keras.Model:
    """Build an MPNN: embeddings, nfp message passing with residual connections, per-output readout.

    The model reads a padded batch (:meth:`examol_nfp.data.PackedGraphs.batch`): inputs ``atom``,
    ``bond`` and ``connectivity``. Each message step updates bonds (``EdgeUpdate``), atoms
    (``NodeUpdate``) and a global state (``GlobalUpdate``, attention over real atoms and bonds),
    each added to its previous value. Each output has its own readout MLP and ends in a
    ``scale_{i}`` layer, a 1×1 dense layer that the scorer initialises to the standard deviation
    (weight) and mean (bias) of the training labels when it trains from scratch.

    Args:
        atom_features: Size of the atom, bond and global state vectors.
        message_steps: Number of message-passing steps.
        output_layers: Sizes of the hidden layers of each readout MLP.
        reduce_op: Reduction from atoms to molecules: ``mean``, ``sum``, ``max`` or ``min``.
        atomwise: Whether the readout MLP runs on each atom and its outputs are reduced (``True``),
            or runs once on the reduced atom states (``False``).
        outputs: Number of outputs: 1 for single fidelity, ``k + 1`` to learn a property from
            ``k`` lower levels of fidelity (the lowest level, then the ``k`` deltas).
    Returns:
        An uncompiled ``tf.keras`` model whose output has shape ``(batch, outputs)``.
    """
    if reduce_op not in REDUCTIONS:
        raise ValueError(f'reduce_op must be one of {REDUCTIONS}; got {reduce_op!r}')
    if outputs < 1 or atom_features < 1 or message_steps < 0:
        raise ValueError(f'Need outputs >= 1, atom_features >= 1 and message_steps >= 0; got outputs={outputs}, '
                         f'atom_features={atom_features}, message_steps={message_steps}')
    layers = tf.keras.layers
    atom = layers.Input(shape=[None], dtype=tf.int32, name='atom')
    bond = layers.Input(shape=[None], dtype=tf.int32, name='bond')
    connectivity = layers.Input(shape=[None, 2], dtype=tf.int32, name='connectivity')
    atom_mask = PaddingMask(name='atom_mask')(atom)
    bond_mask = PaddingMask(name='bond_mask')(bond)
    masks = [atom_mask, bond_mask, None, None]

    atom_state = layers.Embedding(NUM_ATOM_TYPES, atom_features, name='atom_embedding')(atom)
    bond_state = layers.Embedding(NUM_BOND_TYPES, atom_features, name='bond_embedding')(bond)

    # The global state has the same size as the atoms: split it over heads when it divides evenly
    num_heads = 4 if atom_features % 4 == 0 else 1
    units = atom_features // num_heads
    global_state = nfp.GlobalUpdate(units=units, num_heads=num_heads, name='global_initial')(
        [atom_state, bond_state, connectivity], mask=masks[:3])

    for step in range(message_steps):
        new_bond_state = nfp.EdgeUpdate(name=f'edge_update_{step}')(
            [atom_state, bond_state, connectivity, global_state])
        bond_state = layers.Add(name=f'bond_residual_{step}')([bond_state, new_bond_state])

        new_atom_state = nfp.NodeUpdate(name=f'node_update_{step}')(
            [atom_state, bond_state, connectivity, global_state])
        atom_state = layers.Add(name=f'atom_residual_{step}')([atom_state, new_atom_state])

        new_global_state = nfp.GlobalUpdate(units=units, num_heads=num_heads, name=f'global_update_{step}')(
            [atom_state, bond_state, connectivity, global_state], mask=masks)
        global_state = layers.Add(name=f'global_residual_{step}')([global_state, new_global_state])

    if not atomwise:
        molecule_state = MaskedReduce(reduce_op, name='reduce_atoms')([atom_state, atom_mask])
    scaled = []
    for i in range(outputs):
        output = atom_state if atomwise else molecule_state
        for j, size in enumerate(output_layers):
            output = layers.Dense(size, activation='relu', name=f'readout_{i}_{j}')(output)
        output = layers.Dense(1, name=f'readout_{i}_out')(output)
        if atomwise:
            output = MaskedReduce(reduce_op, name=f'reduce_atoms_{i}')([output, atom_mask])
        scaled.append(layers.Dense(1, name=f'scale_{i}')(output))
    output = scaled[0] if outputs == 1 else layers.Concatenate(name='outputs')(scaled)
    return tf.keras.Model(inputs=[atom, bond, connectivity], outputs=output, name='mpnn')


def output_count(model: tf.keras.Model) -> int:
    """Number of outputs of a network (1 for single fidelity, ``k + 1`` for ``k`` lower levels)."""
    return int(model.output_shape[-1])


def scale_layers(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """The ``scale_{i}`` layers of a network, in output order (empty for networks built elsewhere)."""
    names = {layer.name: layer for layer in model.layers}
    found = []
    while f'scale_{len(found)}' in names:
        found.append(names[f'scale_{len(found)}'])
    return found
