"""The network's forward pass in plain TensorFlow operations, on the Keras model's own variables.

A fresh worker's first short retrain pays for tracing its training step, and tracing costs about
half a millisecond per graph operation on a loaded machine. Keras's ``Dense`` runs on 3-D inputs
(atoms and bonds of each molecule) through ``tf.tensordot``, about twenty operations each, and
nfp's layers add shape bookkeeping: the forward pass of a 32-feature, 4-step network had 1,700
operations and its gradients 3,000 more. :func:`plain_forward` reads the functional model's
wiring (its config) and runs each layer's arithmetic directly on the layer's variables: the same
values and the same gradients to rounding, with far fewer operations to trace and to execute.
Dense layers on atoms (the readout) run on real atoms only: a quarter of the rows of a random
training batch are padding.

Only layers whose arithmetic is written here are accepted (those of
:func:`examol_nfp.model.make_simple_network`, without dropout or implicit Keras masks); for any
other network :func:`plain_forward` returns ``None`` and callers use the Keras model itself.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import examol_nfp

examol_nfp.require_legacy_keras()

import tensorflow as tf  # noqa: E402

__all__ = ['plain_forward']

Forward = Callable[[dict[str, tf.Tensor]], tf.Tensor]


class _Graph:
    """Index arithmetic of one padded batch: atoms and bonds are kept as flat ``(rows, features)``
    tensors (one row per padded atom or bond), so every dense layer is one ``MatMul``."""

    def __init__(self, batch: dict[str, tf.Tensor]):
        atom, bond, connectivity = batch['atom'], batch['bond'], batch['connectivity']
        self.size, self.width = tf.shape(atom)[0], tf.shape(atom)[1]
        self.bond_width = tf.shape(bond)[1]
        offsets = tf.expand_dims(tf.range(self.size) * self.width, 1)
        self.source = tf.reshape(connectivity[:, :, 0] + offsets, [-1])  # flat atom row of each bond's ends
        self.target = tf.reshape(connectivity[:, :, 1] + offsets, [-1])
        self.bond_molecule = tf.repeat(tf.range(self.size), self.bond_width)
        self.real_rows = tf.reshape(tf.where(tf.reshape(tf.not_equal(atom, 0), [-1])), [-1])  # real atoms' rows
        self.real_molecule = tf.cast(self.real_rows, tf.int32) // self.width

    def unflatten(self, values: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
        return tf.reshape(values, [self.size, width, values.shape[-1]])


def _dense(layer: Any, x: tf.Tensor) -> tf.Tensor:
    """Keras's ``Dense`` on a 2-D tensor."""
    y = tf.matmul(x, layer.kernel)
    if layer.use_bias:
        y = tf.nn.bias_add(y, layer.bias)
    return layer.activation(y)


def _concat_dense(layer: Any, parts: list[tf.Tensor]) -> tf.Tensor:
    """nfp's ``ConcatDense``: concatenate, then a ReLU dense layer and a linear one."""
    return _dense(layer.dense2, _dense(layer.dense1, tf.concat(parts, axis=-1)))


def _edge_update(layer: Any, graph: _Graph, inputs: list[tf.Tensor], mask: None) -> tf.Tensor:
    atom, bond, _, *rest = inputs
    ends = [tf.gather(atom, graph.source), tf.gather(atom, graph.target)]
    return _concat_dense(layer.concat, [bond, *ends, *(tf.gather(g, graph.bond_molecule) for g in rest)])


def _node_update(layer: Any, graph: _Graph, inputs: list[tf.Tensor], mask: None) -> tf.Tensor:
    atom, bond, _, *rest = inputs
    source = tf.gather(atom, graph.target)
    messages = _concat_dense(layer.concat, [source, bond, *(tf.gather(g, graph.bond_molecule) for g in rest)])
    # nfp's Reduce without a mask: every bond's message (padding bonds too) summed into its first atom
    summed = tf.math.unsorted_segment_sum(messages, graph.source, graph.size * graph.width)
    return _dense(layer.dense2, _dense(layer.dense1, summed))


def _global_update(layer: Any, graph: _Graph, inputs: list[tf.Tensor], mask: list | None) -> tf.Tensor:
    atom, bond = inputs[0], inputs[1]
    # (molecule, element, heads): the atoms, then the bonds, of each molecule
    query = tf.concat([graph.unflatten(_dense(layer.query_layer, atom), graph.width),
                      graph.unflatten(_dense(layer.query_layer, bond), graph.bond_width)], axis=1)
    if mask is not None:
        real = tf.expand_dims(tf.concat([mask[0], mask[1]], axis=1), -1)
        query = tf.where(real, query, tf.ones_like(query) * query.dtype.min)
    attention = tf.nn.softmax(query, axis=1)
    heads, units = layer.num_heads, layer.units
    value = tf.concat([graph.unflatten(_dense(layer.value_layer, atom), graph.width),
                       graph.unflatten(_dense(layer.value_layer, bond), graph.bond_width)], axis=1)
    value = tf.reshape(value, [graph.size, -1, heads, units])
    context = tf.reduce_sum(tf.expand_dims(attention, -1) * value, axis=1)  # (molecule, heads, units)
    return tf.reshape(context, [graph.size, heads * units])


_GRAPH_LAYERS = {'EdgeUpdate': ('bond', _edge_update), 'NodeUpdate': ('atom', _node_update),
                 'GlobalUpdate': ('molecule', _global_update)}
"""nfp's layers: the kind of their output and their arithmetic on flat atoms and bonds."""

_INPUT_KINDS = {'atom': 'atom types', 'bond': 'bond types', 'connectivity': 'connectivity'}
_EMBEDDED = {'atom types': ('atom', 'atom mask'), 'bond types': ('bond', 'bond mask')}


def _apply(layer: Any, class_name: str, graph: _Graph, inputs: list[tuple[str, Any]],
           mask: list[tuple[str, Any] | None] | None) -> tuple[str, Callable[[], tf.Tensor]] | None:
    """The kind of a layer's output and how to compute it from its ``(kind, tensor)`` inputs.

    ``None`` if the layer or its wiring is not covered here. Kinds: ``atom`` and ``bond`` (flat
    rows), ``molecule`` (one row per molecule), the inputs, and the ``atom mask`` and
    ``bond mask`` of ``PaddingMask``. Deciding needs no tensors, so a plan is checked without
    running TensorFlow.
    """
    kinds = [kind for kind, _ in inputs]
    values = [value for _, value in inputs]
    if class_name in _GRAPH_LAYERS:
        if layer.dropout > 0 or kinds[:3] != ['atom', 'bond', 'connectivity'] or len(kinds) > 4 or \
                any(kind != 'molecule' for kind in kinds[3:]):
            return None
        if mask is not None:  # only the attention of GlobalUpdate reads masks; they must be the padding masks
            if class_name != 'GlobalUpdate' or [m and m[0] for m in mask[:2]] != ['atom mask', 'bond mask'] or \
                    any(m is not None for m in mask[2:]):
                return None
            mask = [mask[0][1], mask[1][1]]
        kind, function = _GRAPH_LAYERS[class_name]
        return kind, lambda: function(layer, graph, values, mask)
    if mask is not None:
        return None
    if class_name in ('Embedding', 'PaddingMask'):
        if len(kinds) != 1 or kinds[0] not in _EMBEDDED:
            return None
        embedded, masked = _EMBEDDED[kinds[0]]
        if class_name == 'PaddingMask':
            return masked, lambda: tf.not_equal(values[0], 0)
        if layer.mask_zero:  # Keras would pass an implicit mask on to later layers
            return None
        return embedded, lambda: tf.gather(layer.embeddings, tf.reshape(values[0], [-1]))
    if class_name == 'Dense' and kinds == ['atom']:
        # A readout: dense layers on atoms run on the real atoms' rows only. Whatever consumes a
        # 'real atom' tensor (dense layers, sums, concatenations, masked reductions) ignores padding
        return 'real atom', lambda: _dense(layer, tf.gather(values[0], graph.real_rows))
    if class_name in ('Dense', 'Add', 'Concatenate'):
        if len(set(kinds)) != 1 or kinds[0] not in ('atom', 'bond', 'molecule', 'real atom'):
            return None
        if class_name == 'Dense':
            return (kinds[0], lambda: _dense(layer, values[0])) if len(values) == 1 else None
        if class_name == 'Add':
            return kinds[0], lambda: tf.add_n(values)
        return (kinds[0], lambda: tf.concat(values, axis=-1)) if layer.axis == -1 else None
    if class_name == 'MaskedReduce' and kinds == ['atom', 'atom mask']:
        return 'molecule', lambda: layer.call([graph.unflatten(values[0], graph.width), values[1]])
    if class_name == 'MaskedReduce' and kinds == ['real atom', 'atom mask']:
        return 'molecule', lambda: _reduce_real_atoms(layer.reduction, graph, values[0], values[1])
    return None


def _reduce_real_atoms(reduction: str, graph: _Graph, values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """:class:`~examol_nfp.model.MaskedReduce` of the real atoms' rows (a molecule without atoms gets
    0 for a mean or sum, the lowest or highest float for a max or min, as there)."""
    if reduction == 'max':
        return tf.math.unsorted_segment_max(values, graph.real_molecule, graph.size)
    if reduction == 'min':
        return tf.math.unsorted_segment_min(values, graph.real_molecule, graph.size)
    total = tf.math.unsorted_segment_sum(values, graph.real_molecule, graph.size)
    if reduction == 'sum':
        return total
    return total / tf.maximum(tf.reduce_sum(tf.cast(mask, values.dtype), axis=1, keepdims=True), 1.)


def _reference(entry: list | None, tensors: dict[str, tuple[str, Any]]) -> tuple[str, Any] | None:
    """The ``(kind, tensor)`` a config reference ``[layer name, node, index, ...]`` points at."""
    if entry is None:
        return None
    name, node, index = entry[:3]
    if node != 0 or index != 0:
        raise KeyError(name)
    return tensors[name]


def plain_forward(model: tf.keras.Model) -> Forward | None:
    """A function computing ``model(batch)`` with plain TensorFlow operations, or ``None`` if unsupported.

    The function takes a batch dictionary (``atom``, ``bond``, ``connectivity``) and reads the
    model's variables, so later changes to the weights (training, ``set_weights``) apply to it.
    """
    try:
        config = model.get_config()
        input_names = [entry[0] for entry in config['input_layers']]
        outputs = config['output_layers']
        plan = []
        for spec in config['layers']:
            nodes = spec.get('inbound_nodes') or []
            if spec['class_name'] == 'InputLayer':
                continue
            if len(nodes) != 1 or not isinstance(nodes[0], list):
                return None
            plan.append((model.get_layer(spec['name']), spec['class_name'], nodes[0]))
    except (AttributeError, KeyError, TypeError, ValueError, NotImplementedError):
        return None
    if sorted(input_names) != sorted(_INPUT_KINDS) or len(outputs) != 1:
        return None
    if any(getattr(layer, 'compute_dtype', None) != 'float32' for layer, _, _ in plan):
        return None  # Keras would cast (mixed precision); this arithmetic is float32 throughout

    def run(batch: dict[str, tf.Tensor] | None) -> tf.Tensor | None:
        """The output for ``batch``; with ``None``, only check the plan (output ``0`` or ``None``)."""
        graph = None if batch is None else _Graph(batch)
        tensors = {name: (_INPUT_KINDS[name], None if batch is None else batch[name]) for name in input_names}
        for layer, class_name, node in plan:
            kwargs = [entry[3] if len(entry) > 3 else {} for entry in node]
            if any(k != kwargs[0] for k in kwargs) or set(kwargs[0]) - {'mask'}:
                return None
            mask = kwargs[0].get('mask')
            if mask is not None:
                mask = [_reference(entry, tensors) for entry in mask]
            step = _apply(layer, class_name, graph, [_reference(entry, tensors) for entry in node], mask)
            if step is None:
                return None
            tensors[layer.name] = (step[0], None if batch is None else step[1]())
        kind, output = _reference(outputs[0], tensors)
        return None if kind != 'molecule' else (0 if batch is None else output)

    try:
        if run(None) is None:
            return None
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    return run
