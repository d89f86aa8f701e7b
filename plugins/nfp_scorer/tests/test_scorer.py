"""NFPScorer: train → update → score, single- and multi-fidelity, messages, errors."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from examol_nfp import NFPMessage, NFPScorer
from examol_nfp.data import PackedGraphs
from examol_nfp.training import TrainingDivergedError

from examol_core import MoleculeRecord
from examol_core.errors import IncompatibleVersionError, InvalidLabelsError, ShapeMismatchError


@pytest.fixture(scope='module')
def scorer() -> NFPScorer:
    return NFPScorer()


@pytest.fixture(scope='module')
def trained(scorer, graphs, labels, tiny, fast):
    """A single-fidelity network after retrain → update, with its training history."""
    model = tiny()
    message = pickle.loads(pickle.dumps(scorer.prepare_message(model, training=True)))
    weights, history = pickle.loads(pickle.dumps(scorer.retrain(message, graphs, labels, **fast)))
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


@pytest.fixture(scope='module')
def trained_multi(scorer, graphs, lower_levels, tiny, fast):
    low, top = lower_levels
    model = tiny(outputs=3)
    update = scorer.retrain(scorer.prepare_message(model, training=True), graphs, top, lower_fidelities=low, **fast)
    return scorer.update(model, pickle.loads(pickle.dumps(update)))


def test_prepare_message(scorer, tiny):
    model = tiny()
    assert isinstance(scorer.prepare_message(model, training=True), str), 'from scratch: the architecture alone'
    assert isinstance(scorer.prepare_message(model), NFPMessage)
    assert isinstance(NFPScorer(retrain_from_scratch=False).prepare_message(model, training=True), NFPMessage)
    with pytest.raises(TypeError, match='tf.keras model'):
        scorer.prepare_message(object())


def test_train_update_score(scorer, trained, graphs, labels, fast):
    model, history = trained
    assert set(history) >= {'loss', 'val_loss', 'lr', 'epoch_time'}
    assert len(history['loss']) == fast['num_epochs']
    assert history['lr'][0] > history['lr'][-1], 'the learning rate decays'
    scores = scorer.score(scorer.prepare_message(model), graphs)
    assert scores.shape == (len(graphs),) and scores.dtype == np.float64 and np.isfinite(scores).all()
    # The scale layer starts at the labels' mean and spread, so even a briefly trained network is on scale
    assert abs(scores.mean() - labels.mean()) < 3 * labels.std()


def test_score_shapes_and_input_kinds(scorer, trained, smiles, graphs):
    message = scorer.prepare_message(trained[0])
    expected = scorer.score(message, graphs)
    one = scorer.score(message, graphs[:1])
    assert one.shape == (1,)
    assert scorer.score(message, []).shape == (0,)
    np.testing.assert_allclose(scorer.score(message, list(smiles)), expected, atol=1e-5)
    records = [MoleculeRecord.from_identifier(s) for s in smiles[:3]]
    np.testing.assert_allclose(scorer.score(message, records), expected[:3], atol=1e-5)
    np.testing.assert_allclose(scorer.score(message, graphs, batch_size=2, chunk_size=5), expected, atol=1e-5)


def test_score_alone_in_batch_and_reversed(scorer, trained, graphs):
    message = scorer.prepare_message(trained[0])
    together = scorer.score(message, graphs)
    reverse = scorer.score(message, graphs[::-1])[::-1]
    alone = np.concatenate([scorer.score(message, [g]) for g in graphs])
    np.testing.assert_allclose(alone, together, atol=1e-4)
    np.testing.assert_allclose(reverse, together, atol=1e-4)


def test_message_rebuilt_on_worker_predicts_the_same(scorer, trained, graphs):
    model = trained[0]
    message = pickle.loads(pickle.dumps(scorer.prepare_message(model)))
    direct = np.asarray(model(PackedGraphs.from_graphs(graphs).batch(np.arange(len(graphs))), training=False))[:, 0]
    np.testing.assert_allclose(scorer.score(message, graphs), direct, atol=1e-5)


def test_multifidelity_with_missing_levels(scorer, trained_multi, graphs, lower_levels):
    low, _ = lower_levels
    message = scorer.prepare_message(trained_multi)
    scores = scorer.score(message, graphs, lower_fidelities=low)
    assert scores.shape == (len(graphs),) and np.isfinite(scores).all()
    assert np.isfinite(scorer.score(message, graphs)).all(), 'lower_fidelities=None still scores'
    # With every lower level known, only the last delta is predicted
    full = np.nan_to_num(low, nan=1.)
    shift = scorer.score(message, graphs, lower_fidelities=full + 2.5) - scorer.score(message, graphs,
                                                                                        lower_fidelities=full)
    np.testing.assert_allclose(shift, 2.5, atol=1e-5)
    assert scorer.score(message, graphs[:1], lower_fidelities=low[:1]).shape == (1,)
    with pytest.raises(ShapeMismatchError, match='expects 2 lower levels'):
        scorer.score(message, graphs, lower_fidelities=low[:, :1])
    with pytest.raises(ShapeMismatchError):
        scorer.score(message, graphs, lower_fidelities=low[:3])


def test_network_outputs_must_match_levels(scorer, graphs, labels, lower_levels, tiny, fast):
    low, top = lower_levels
    with pytest.raises(ShapeMismatchError, match=r'make_simple_network\(outputs=3\)'):
        scorer.retrain(tiny().to_json(), graphs, top, lower_fidelities=low, **fast)
    with pytest.raises(ShapeMismatchError, match='expects 0 lower levels'):
        scorer.score(scorer.prepare_message(tiny()), graphs, lower_fidelities=low[:, :1])


def test_misspelt_keywords_raise(scorer, trained, graphs, labels, lower_levels, tiny):
    low, _ = lower_levels
    with pytest.raises(TypeError):
        scorer.retrain(tiny().to_json(), graphs, labels, lower_fidelity=low)
    with pytest.raises(TypeError):
        scorer.score(scorer.prepare_message(trained[0]), graphs, lower_fidelity=low)


def test_bad_training_data(scorer, graphs, labels, tiny, fast):
    architecture = tiny().to_json()
    bad = labels.copy()
    bad[2] = np.nan
    with pytest.raises(InvalidLabelsError, match='NaN'):
        scorer.retrain(architecture, graphs, bad, **fast)
    with pytest.raises(ShapeMismatchError):
        scorer.retrain(architecture, graphs, labels[:-1], **fast)
    with pytest.raises(ValueError, match='validation_split'):
        scorer.retrain(architecture, graphs, labels, validation_split=1.5)
    with pytest.raises(ValueError, match='num_epochs'):
        scorer.retrain(architecture, graphs, labels, num_epochs=0)
    with pytest.raises(ValueError, match=r"'C1CC' at position 1"):
        scorer.retrain(architecture, ['CC', 'C1CC'], labels[:2])


def test_wrong_messages(scorer, trained, graphs, labels, tiny):
    with pytest.raises(IncompatibleVersionError, match='training message'):
        scorer.score(tiny().to_json(), graphs)
    with pytest.raises(IncompatibleVersionError, match='JSON architecture or an NFPMessage'):
        scorer.retrain({'not': 'a model'}, graphs, labels)
    model = trained[0]
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(IncompatibleVersionError):
        scorer.update(model, (before[:-1], {}))
    with pytest.raises(IncompatibleVersionError):
        scorer.update(model, 'nonsense')
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())), 'model unchanged on error'


def test_retrain_from_current_weights(graphs, labels, trained):
    scorer = NFPScorer(retrain_from_scratch=False)
    model = trained[0]
    message = scorer.prepare_message(model, training=True)
    before = scorer.score(scorer.prepare_message(model), graphs)
    weights, _ = scorer.retrain(message, graphs, labels, num_epochs=1, learning_rate=1e-9, batch_size=8)
    assert message.get_model() is not None and all(
        np.array_equal(a, b) for a, b in zip(message.weights, model.get_weights())), 'message untouched'
    model_copy = message.build_model()
    after = scorer.score(NFPMessage.from_model(scorer.update(model_copy, (weights, {}))), graphs)
    np.testing.assert_allclose(after, before, atol=1e-3)  # continued from the weights, not from scratch


def test_timeout_keeps_best_weights(graphs, labels, tiny):
    """Stopped by the clock during the first epoch: the weights of that (best, only) epoch come back, trained."""
    scorer = NFPScorer(retrain_from_scratch=False)  # training starts from the weights below
    model = tiny()
    message = scorer.prepare_message(model, training=True)
    initial = model.get_weights()
    weights, history = scorer.retrain(message, graphs, labels, num_epochs=50, batch_size=4, timeout=0.,
                                      validation_split=0.25, patience=None)
    assert len(history['loss']) == 1 and np.isfinite(history['val_loss'][0]), 'stopped during the first epoch'
    assert all(np.isfinite(w).all() for w in weights)
    assert [w.shape for w in weights] == [w.shape for w in initial]
    assert any(not np.array_equal(w, w0) for w, w0 in zip(weights, initial)), 'the trained weights, not the initial ones'
    assert all(np.array_equal(w, w0) for w, w0 in zip(model.get_weights(), initial)), 'the local model is untouched'


def test_learns(scorer, graphs, tiny):
    import tensorflow as tf

    heavy_atoms = np.array([float((g['atom'] > 1).sum()) for g in graphs])
    tf.keras.utils.set_random_seed(1)  # the initial weights and the order of batches
    model = tiny(reduce_op='sum')
    weights, history = scorer.retrain(scorer.prepare_message(model, training=True), graphs, heavy_atoms,
                                      num_epochs=30, batch_size=8, learning_rate=1e-2, validation_split=0.,
                                      patience=None)
    scores = scorer.score(scorer.prepare_message(scorer.update(model, (weights, history))), graphs)
    # Without a validation set the last epoch's weights are kept: they must be the trained ones,
    # better than the labels' mean (checked over 40 seeds: correlation 0.74-0.97)
    assert np.mean((scores - heavy_atoms) ** 2) < heavy_atoms.var()
    assert np.corrcoef(scores, heavy_atoms)[0, 1] > 0.6


def test_same_seed_same_training(scorer, graphs, labels, tiny):
    import tensorflow as tf

    runs = []
    for _ in range(2):
        tf.keras.utils.set_random_seed(7)
        runs.append(scorer.retrain(tiny().to_json(), graphs, labels, num_epochs=3, batch_size=4)[1]['loss'])
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5)


def test_no_validation_keeps_last_epoch(graphs, labels, tiny):
    """The running training loss does not describe any one set of weights, so it picks none."""
    import tensorflow as tf
    from examol_nfp.data import PackedGraphs
    from examol_nfp.training import initialise_scales, train

    tf.keras.utils.set_random_seed(0)
    model = tiny()
    initialise_scales(model, labels[:, None])
    ended_with, kept = [], []
    real_set_weights = model.set_weights

    def spy(weights):  # train ends by setting the weights it keeps
        ended_with.append(model.get_weights())
        kept.append(weights)
        real_set_weights(weights)

    model.set_weights = spy
    history = train(model, PackedGraphs.from_graphs(graphs), labels[:, None], num_epochs=4, batch_size=4,
                    validation_split=0., learning_rate=0.1, patience=None, timeout=None, verbose=False,
                    rng=np.random.default_rng(0))
    assert np.argmin(history['loss']) < 3, 'a run whose lowest running loss is not its last epoch'
    assert all(np.array_equal(a, b) for a, b in zip(ended_with[-1], kept[-1]))


def test_divergence_is_reported(scorer, graphs, labels, tiny):
    with pytest.raises(TrainingDivergedError, match='Lower the learning rate'):
        scorer.retrain(tiny().to_json(), graphs, labels * 1e3, num_epochs=3, batch_size=8, learning_rate=1e4)


@pytest.mark.parametrize('losses, patience, stopped_at, best', [
    ([3., 2., 2.5, 2.6, 1.], 2, 3, 1),
    ([np.nan, 2., 2.5, 1.], None, 3, 3),
    ([3., 3., 3.], 0, 1, 0),
    ([np.inf, np.nan], None, 1, None),
])
def test_early_stopping_keeps_best_finite_epoch(losses, patience, stopped_at, best):
    from examol_nfp.training import BestEpoch

    tracker = BestEpoch(patience)
    for epoch, value in enumerate(losses):
        if tracker.update(epoch, value, lambda e=epoch: [np.full(1, e)]):
            break
    assert epoch == stopped_at
    assert tracker.epoch == best
    assert (tracker.weights is None) if best is None else tracker.weights[0][0] == best


def test_cosine_schedule():
    from examol_nfp.training import cosine_schedule

    rates = [cosine_schedule(1e-3, 10)(e) for e in range(10)]
    assert rates[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] > 1e-5


def test_verbose_prints_epochs(scorer, graphs, labels, tiny, capsys):
    scorer.retrain(tiny().to_json(), graphs, labels, num_epochs=2, batch_size=8, verbose=True)
    out = capsys.readouterr().out
    assert 'Epoch 1/2: loss=' in out and 'val_loss=' in out and 'Epoch 2/2' in out


def test_save_and_load(scorer, trained, graphs, tmp_path):
    model = trained[0]
    scorer.save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['architecture.json', 'examol-nfp.json', 'weights.npz']
    loaded = scorer.load_model(tmp_path)
    np.testing.assert_array_equal(scorer.score(scorer.prepare_message(loaded), graphs),
                                  scorer.score(scorer.prepare_message(model), graphs))
    (tmp_path / 'weights.npz').unlink()
    with pytest.raises(IncompatibleVersionError, match='does not hold a network'):
        scorer.load_model(tmp_path)


def test_inputs_straight_from_smiles_score_as_records(scorer, trained, smiles):
    """``examol score`` forms inputs with transform_smiles, from SMILES however spelt: same scores as records."""
    from rdkit import Chem

    from examol_core.errors import InvalidIdentifierError

    model = trained[0]
    records = [MoleculeRecord.from_identifier(s) for s in smiles]
    spelt = [Chem.MolToSmiles(Chem.MolFromSmiles(s), doRandom=True) for s in smiles]
    msg = scorer.prepare_message(model)
    np.testing.assert_array_equal(scorer.score(msg, scorer.transform_smiles(spelt)),
                                  scorer.score(msg, scorer.transform_inputs(records)))
    with pytest.raises(InvalidIdentifierError, match='position 1'):
        scorer.transform_smiles(['CCO', 'C1CC'])
