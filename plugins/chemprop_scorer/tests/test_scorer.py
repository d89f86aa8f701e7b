"""ChempropScorer: train → update → score, single- and multi-fidelity, messages, errors."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from examol_chemprop import ChempropMessage, ChempropScorer, UntrainedModelError
from examol_chemprop import message as message_module

from examol_core import MoleculeRecord
from examol_core.errors import IncompatibleVersionError, InvalidIdentifierError, InvalidLabelsError, ShapeMismatchError


@pytest.fixture(scope='module')
def scorer() -> ChempropScorer:
    return ChempropScorer()


@pytest.fixture(scope='module')
def inputs(scorer, smiles) -> list[str]:
    return scorer.transform_inputs(list(smiles))


@pytest.fixture(scope='module')
def trained(scorer, inputs, labels, tiny, fast):
    """A single-fidelity network after retrain → update, with its training history."""
    model = tiny()
    message = pickle.loads(pickle.dumps(scorer.prepare_message(model, training=True)))
    weights, history = pickle.loads(pickle.dumps(scorer.retrain(message, inputs, labels, **fast)))
    return scorer.update(model, (weights, history)), history


@pytest.fixture(scope='module')
def lower_levels(labels):
    """Two lower levels, and a top level, each partly unknown."""
    rng = np.random.default_rng(3)
    low = np.column_stack([0.5 * labels, 0.8 * labels + 1])
    low[rng.random(low.shape) < 0.25] = np.nan
    top = labels.copy()
    top[[1, 4, 9]] = np.nan
    return low, top


def test_transform_inputs(scorer):
    record = MoleculeRecord.from_identifier('OCC')
    assert scorer.transform_inputs([record, 'C(O)C', 'InChI=1S/CH4/h1H4']) == ['CCO', 'CCO', 'C']
    with pytest.raises(InvalidIdentifierError, match="'C1CC' at position 1"):
        scorer.transform_inputs(['CC', 'C1CC'])
    with pytest.raises(InvalidIdentifierError, match='position 0 is a int'):
        scorer.transform_inputs([3])


def test_prepare_message(scorer, tiny, trained):
    model, _ = trained
    assert scorer.prepare_message(model, training=True).weights is None, 'from scratch: the architecture alone'
    assert scorer.prepare_message(model).weights is not None
    assert ChempropScorer(retrain_from_scratch=False).prepare_message(model, training=True).weights is not None
    with pytest.raises(TypeError, match='ChempropModel'):
        scorer.prepare_message(object())


def test_train_update_score(scorer, trained, inputs, labels):
    model, history = trained
    assert set(history) == {'loss', 'val_loss', 'lr', 'epoch_time', 'epoch_cpu_time'} and len(history['loss']) == 3
    message = pickle.loads(pickle.dumps(scorer.prepare_message(model)))
    scores = scorer.score(message, inputs)
    assert scores.shape == (len(inputs),) and scores.dtype == np.float64 and np.isfinite(scores).all()
    # Input order, whatever the batches: one at a time, reversed, and records or graphs instead of SMILES
    alone = np.concatenate([scorer.score(message, [s]) for s in inputs])
    np.testing.assert_allclose(alone, scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scorer.score(message, inputs[::-1], batch_size=3), scores[::-1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scorer.score(message, inputs, chunk_size=4), scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scorer.score(message, inputs, device='auto'), scores, rtol=1e-5, atol=1e-5)
    records = [MoleculeRecord.from_identifier(s) for s in inputs[:3]]
    np.testing.assert_allclose(scorer.score(message, records), scores[:3], rtol=1e-5, atol=1e-5)


def test_training_learns(scorer, inputs, labels, tiny):
    """Enough epochs fit the labels far better than their mean: the loss, scaling and schedule work together."""
    model = tiny(hidden_size=32, ffn_hidden_size=32, aggregation='sum')  # the labels grow with size
    update = scorer.retrain(scorer.prepare_message(model, training=True), inputs, labels, num_epochs=60, batch_size=4,
                            validation_split=0., patience=None, seed=1)
    scores = scorer.score(scorer.prepare_message(scorer.update(model, update)), inputs)
    assert np.abs(scores - labels).mean() < 0.25 * np.abs(labels - labels.mean()).mean()
    assert update[1]['loss'][-1] < 0.2 * update[1]['loss'][0]


def test_seed_repeats_and_continued_training(scorer, inputs, labels, tiny, fast):
    runs = [scorer.retrain(scorer.prepare_message(tiny(), training=True), inputs, labels, **fast)[0] for _ in range(2)]
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])
    model = scorer.update(tiny(), (runs[0], {}))
    before = {k: v.copy() for k, v in model.weights.items()}
    continued = ChempropScorer(retrain_from_scratch=False)
    update = continued.retrain(continued.prepare_message(model, training=True), inputs, labels, **fast)
    # Continued training starts from the weights: the output scales learned first are kept
    np.testing.assert_array_equal(update[0]['predictor.output_transform.mean'],
                                  before['predictor.output_transform.mean'])
    for name in before:
        np.testing.assert_array_equal(model.weights[name], before[name], err_msg='retrain changed the local model')


def test_multifidelity_partial_labels(scorer, inputs, lower_levels, tiny, fast):
    low, top = lower_levels
    model = tiny(outputs=3)
    update = scorer.retrain(scorer.prepare_message(model, training=True), inputs, top, lower_fidelities=low, **fast)
    assert all(np.isfinite(h) for h in update[1]['loss'])
    model = scorer.update(model, update)
    message = scorer.prepare_message(model)
    network = message.get_network()
    from examol_chemprop.data import featurise
    from examol_chemprop.training import predict

    deltas = predict(network, featurise(inputs), 8, __import__('torch').device('cpu'))
    from examol_core.multifi import predict_from_deltas

    np.testing.assert_allclose(scorer.score(message, inputs, lower_fidelities=low), predict_from_deltas(deltas, low))
    np.testing.assert_allclose(scorer.score(message, inputs), deltas.sum(axis=1))
    with pytest.raises(ShapeMismatchError, match='expects 2 lower levels'):
        scorer.score(message, inputs, lower_fidelities=low[:, :1])
    with pytest.raises(ShapeMismatchError, match='make_mpnn\\(outputs=3\\)'):
        scorer.retrain(scorer.prepare_message(tiny(outputs=2), training=True), inputs, top, lower_fidelities=low)


def test_masked_loss_ignores_unknown_levels(tiny):
    """Unknown (NaN) labels add nothing to the loss and send no gradient to their output."""
    import torch
    from examol_chemprop.training import masked_squared_errors

    network = tiny(outputs=2).to_module()
    with torch.no_grad():
        network.predictor.output_transform.scale.copy_(torch.tensor([[2., 4.]]))
    raw = torch.tensor([[1., 1.], [0., 3.], [2., 0.]], requires_grad=True)
    targets = torch.tensor([[0., float('nan')], [0., 0.], [float('nan'), float('nan')]])
    sse, count = masked_squared_errors(network, raw, targets, sum_outputs=False)
    # In label units the outputs are raw * scale; errors are divided by the scale again
    assert int(count) == 3 and float(sse.detach()) == pytest.approx(1. + 0. + 9.)
    sse.backward()
    assert raw.grad[0, 1] == 0 and (raw.grad[2] == 0).all() and raw.grad[1, 1] != 0
    total, count = masked_squared_errors(network, raw.detach(), torch.tensor([[8.], [float('nan')], [0.]]),
                                         sum_outputs=True)
    # The sum of the outputs in label units, in units of the first output's scale
    assert int(count) == 2 and float(total) == pytest.approx(((2. + 4. - 8.) / 2) ** 2 + ((4. + 0. - 0.) / 2) ** 2)


def test_batch_norm_with_a_last_batch_of_one(scorer, inputs, labels, tiny):
    model = tiny(batch_norm=True)
    update = scorer.retrain(scorer.prepare_message(model, training=True), inputs[:9], labels[:9], num_epochs=2,
                            batch_size=8, validation_split=0., seed=0)
    assert np.isfinite(scorer.score(scorer.prepare_message(scorer.update(model, update)), inputs[:1])).all()


def test_errors(scorer, trained, inputs, labels, tiny, fast):
    model, _ = trained
    message = scorer.prepare_message(model)
    with pytest.raises(UntrainedModelError, match='not been trained'):
        scorer.score(scorer.prepare_message(tiny()), inputs)
    with pytest.raises(InvalidIdentifierError, match='position 2'):
        scorer.score(message, ['CC', 'CO', 'C1C'])
    with pytest.raises(IncompatibleVersionError, match='ChempropMessage'):
        scorer.score('architecture', inputs)
    with pytest.raises(ValueError, match='no GPU'):
        scorer.score(message, inputs, device='cuda')
    with pytest.raises(ValueError, match='validation_split'):
        scorer.retrain(scorer.prepare_message(tiny(), training=True), inputs, labels, validation_split=1.)
    with pytest.raises(InvalidLabelsError):
        scorer.retrain(scorer.prepare_message(tiny(), training=True), inputs, np.full(len(inputs), np.nan), **fast)
    old = pickle.loads(pickle.dumps(message))
    old.format = 0
    with pytest.raises(IncompatibleVersionError, match='format 0'):
        scorer.score(old, inputs)
    # update checks before touching the model
    before = {k: v.copy() for k, v in model.weights.items()}
    for bad in ('weights', ({'x': np.zeros(1)}, {}), (dict(before, **{'bn.weight': np.ones(16)}), {})):
        with pytest.raises(IncompatibleVersionError):
            scorer.update(model, bad)
    assert all(np.array_equal(model.weights[k], before[k]) for k in before)


def test_message_pickles_without_network_and_rebuilds_once(scorer, trained, inputs, monkeypatch):
    model, _ = trained
    message = scorer.prepare_message(model)
    scorer.score(message, inputs[:2])
    blob = pickle.dumps(message)
    assert b'torch' not in blob, 'the message carries arrays and JSON, never a PyTorch object'
    built = []
    original = message_module.build_network
    monkeypatch.setattr(message_module, 'build_network', lambda *a: built.append(1) or original(*a))
    message_module._cache.clear()
    for _ in range(3):
        scorer.score(pickle.loads(blob), inputs[:2])
    assert len(built) == 1, 'chunks of one job rebuild the network once per worker'
    assert isinstance(pickle.loads(blob), ChempropMessage)


def test_best_validation_epoch_is_kept(inputs, labels, tiny):
    """With a validation split, the weights returned are those of the epoch with the lowest validation loss."""
    import torch
    from examol_chemprop.data import featurise
    from examol_chemprop.training import initialise_scales, masked_squared_errors, train

    graphs = featurise(inputs)
    torch.manual_seed(0)
    network = tiny().to_module()
    initialise_scales(network, labels[:, None])
    # A learning rate high enough that the validation loss goes up and down
    history = train(network, graphs, labels[:, None], num_epochs=12, batch_size=4, validation_split=0.25,
                    learning_rate=0.05, patience=None, timeout=None, sum_outputs=False,
                    rng=np.random.default_rng(2), device=torch.device('cpu'))
    best = int(np.argmin(history['val_loss']))
    assert best < len(history['val_loss']) - 1, 'the test needs a run whose last epoch is not the best'
    val_rows = np.random.default_rng(2).permutation(len(graphs))[:6]  # how train() splits
    from chemprop.data import BatchMolGraph

    with torch.inference_mode():
        raw = network.predictor.ffn(network.fingerprint(BatchMolGraph([graphs[i] for i in val_rows])))
        sse, count = masked_squared_errors(network, raw, torch.as_tensor(labels[val_rows, None], dtype=torch.float32),
                                           sum_outputs=False)
    assert float(sse) / int(count) == pytest.approx(history['val_loss'][best], rel=1e-4)


def test_tiny_training_sets(scorer, inputs, labels, tiny):
    """One record, or a validation split that would leave nothing to train on: one record still trains."""
    for count, split in ((1, 0.1), (2, 0.9)):
        weights, history = scorer.retrain(scorer.prepare_message(tiny(), training=True), inputs[:count],
                                          labels[:count], num_epochs=2, validation_split=split, seed=0)
        assert history['loss'][0] > 0, 'a record was trained on'
