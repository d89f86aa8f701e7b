"""RDKitScorer: the DESIGN.md user flow, multi-fidelity training and inference, and bad input."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from examol_rdkit import RDKitScorer, make_gpr_model, make_knn_model
from examol_rdkit import scorer as scorer_module
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from examol_core import MoleculeRecord, RedoxEnergy
from examol_core.errors import InvalidIdentifierError, ShapeMismatchError
from examol_core.multifi import collect_outputs
from examol_core.testing import FIDELITIES


def _label(records, fidelities):
    """Give every record values at ``fidelities``, smooth in the molecule's size."""
    for i, record in enumerate(records):
        value = 4. + 0.01 * len(record.identifier.smiles)
        for j, recipe in enumerate(fidelities):
            value += 0.1 * j + 0.003 * i
            record.properties.setdefault(recipe.name, {})[recipe.level] = value


def test_design_user_flow_as_written(smiles):
    records = [MoleculeRecord.from_identifier(s) for s in smiles[:30]]
    _label(records, [RedoxEnergy(1, 'xtb')])
    _label(records, [RedoxEnergy(1, 'low'), RedoxEnergy(1, 'medium'), RedoxEnergy(1, 'high')])

    scorer = RDKitScorer()
    recipe = RedoxEnergy(charge=1, config_name='xtb')
    model = make_knn_model()

    outputs = scorer.transform_outputs(records, recipe)
    inputs = scorer.transform_inputs(records)
    model_msg = scorer.prepare_message(model, training=True)
    update_msg = scorer.retrain(model_msg, inputs, outputs)
    model = scorer.update(model, update_msg)
    scores = scorer.score(scorer.prepare_message(model), inputs)
    assert isinstance(scores, np.ndarray) and scores.shape == (30,) and np.isfinite(scores).all()

    fidelities = [RedoxEnergy(1, 'low'), RedoxEnergy(1, 'medium'), RedoxEnergy(1, 'high')]
    outputs = scorer.transform_outputs(records, fidelities[-1])
    lower = collect_outputs(records, fidelities[:-1])
    update_msg = scorer.retrain(model_msg, inputs, outputs, lower_fidelities=lower)
    model = scorer.update(model, update_msg)
    scores = scorer.score(scorer.prepare_message(model), inputs, lower_fidelities=lower)
    assert scores.shape == (30,) and np.isfinite(scores).all()


def _train(scorer, records, model, lower=True, **kwargs):
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    lower_values = collect_outputs(records, FIDELITIES[:-1]) if lower else None
    msg = pickle.loads(pickle.dumps(scorer.prepare_message(model, training=True)))
    update = scorer.retrain(msg, inputs, outputs, lower_fidelities=lower_values, **kwargs)
    return scorer.update(model, pickle.loads(pickle.dumps(update))), inputs, outputs, lower_values


def test_one_neighbour_reproduces_labels(records):
    scorer = RDKitScorer()
    model, inputs, outputs, _ = _train(scorer, records, make_knn_model(n_neighbors=1), lower=False)
    assert isinstance(model, Pipeline)
    assert np.array_equal(scorer.score(scorer.prepare_message(model), inputs), outputs)


def test_multifidelity_with_every_lower_level_known_reproduces_top_level(records):
    scorer = RDKitScorer()
    model, inputs, outputs, lower = _train(scorer, records, make_knn_model(n_neighbors=1))
    assert isinstance(model, list) and len(model) == 3
    scores = scorer.score(scorer.prepare_message(model), inputs, lower_fidelities=lower)
    assert np.allclose(scores, outputs, rtol=0, atol=1e-12)
    # Without lower levels: the sum of the three predicted levels, which a 1-NN also reproduces
    assert np.allclose(scorer.score(scorer.prepare_message(model), inputs), outputs, atol=1e-12)
    # Only the deltas above the highest known level are predicted: a shift of the known values passes through
    assert np.allclose(scorer.score(model, inputs, lower_fidelities=lower + 2.), outputs + 2., atol=1e-12)


def test_each_level_uses_only_records_that_have_it(records):
    for record in records[:5]:  # no top level
        del record.properties[FIDELITIES[2].name][FIDELITIES[2].level]
    for record in records[5:8]:  # no middle level: no delta for the middle or the top
        del record.properties[FIDELITIES[1].name][FIDELITIES[1].level]
    for record in records[8:10]:  # only the top level
        del record.properties[FIDELITIES[0].name][FIDELITIES[0].level]
        del record.properties[FIDELITIES[1].name][FIDELITIES[1].level]
    scorer = RDKitScorer()
    model, inputs, outputs, lower = _train(scorer, records, make_knn_model(n_neighbors=1))
    sizes = [len(level[-1].fingerprints_) for level in model]
    n = len(records)
    assert sizes == [n - 2, n - 5, n - 10]
    # Where every lower level is known, the top level comes back exactly
    scores = scorer.score(model, inputs, lower_fidelities=lower)
    known = ~np.isnan(outputs) & ~np.isnan(lower).any(axis=1)
    assert np.allclose(scores[known], outputs[known], atol=1e-12)
    assert np.isfinite(scores).all()


def test_bootstrap_is_the_cores_seeded_resampling(records):
    """Ensembles resample once, in the core (``bootstrap_seed``), reproducibly; the scorer has no resampling of its own."""
    from examol_core.colmena import retrain_task

    scorer = RDKitScorer()
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    lower = collect_outputs(records, FIDELITIES[:-1])
    msg = scorer.prepare_message(make_knn_model(n_neighbors=1), training=True)
    first, again, other = (retrain_task(scorer, msg, inputs, outputs, lower_fidelities=lower, bootstrap_seed=seed)
                           for seed in (3, 3, 4))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a[-1].fingerprints_, b[-1].fingerprints_)
    assert len(np.unique(first[0][-1].fingerprints_, axis=0)) < len(records), 'drawn with replacement'
    assert not np.array_equal(first[0][-1].fingerprints_, other[0][-1].fingerprints_)
    with pytest.raises(TypeError):
        scorer.retrain(msg, inputs, outputs, bootstrap=True)


def test_messages(records):
    scorer = RDKitScorer()
    model = make_knn_model()
    training = scorer.prepare_message(model, training=True)
    assert isinstance(training, Pipeline) and training is not model
    trained, *_ = _train(scorer, records, model)
    assert not hasattr(model[-1], 'fingerprints_'), 'retrain must not touch the local model'
    training = scorer.prepare_message(trained, training=True)
    assert isinstance(training, Pipeline) and not hasattr(training[-1], 'fingerprints_')
    assert scorer.prepare_message(trained) is trained
    pickle.loads(pickle.dumps(scorer))


def test_sizes(records):
    scorer = RDKitScorer()
    model, inputs, outputs, lower = _train(scorer, records, make_knn_model())
    msg = scorer.prepare_message(model)
    assert scorer.score(msg, inputs[:1]).shape == (1,)
    assert scorer.score(msg, inputs[:1], lower_fidelities=lower[:1]).shape == (1,)
    empty = scorer.score(msg, [])
    assert empty.shape == (0,) and empty.dtype == float
    assert scorer.score(msg, [], lower_fidelities=np.empty((0, 2))).shape == (0,)


def test_bad_smiles_named_everywhere(records, monkeypatch):
    scorer = RDKitScorer()
    model, inputs, outputs, _ = _train(scorer, records, make_knn_model(), lower=False)
    bad = list(inputs)
    bad[17] = 'C1CC(C'
    before = list(bad)
    with pytest.raises(InvalidIdentifierError, match=r"'C1CC\(C' at position 17"):
        scorer.retrain(scorer.prepare_message(make_knn_model(), training=True), bad, outputs)
    monkeypatch.setattr(scorer_module, 'SCORE_CHUNK', 5)  # the position counts from the start of the inputs
    with pytest.raises(InvalidIdentifierError, match=r"'C1CC\(C' at position 17"):
        scorer.score(scorer.prepare_message(model), bad)
    assert bad == before


def test_bad_training_data(records):
    scorer = RDKitScorer()
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    msg = scorer.prepare_message(make_knn_model(), training=True)
    with pytest.raises(ShapeMismatchError, match='40 inputs but 39 outputs'):
        scorer.retrain(msg, inputs, outputs[:-1])
    nan = outputs.copy()
    nan[4] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        scorer.retrain(msg, inputs, nan)
    assert np.isnan(nan[4]) and np.isfinite(np.delete(nan, 4)).all()
    with pytest.raises(ValueError, match='at least 2'):
        scorer.retrain(msg, inputs[:1], outputs[:1])
    with pytest.raises(TypeError):
        scorer.retrain(msg, inputs, outputs, lower_fidelity=collect_outputs(records, FIDELITIES[:-1]))
    with pytest.raises(TypeError, match='not a single string'):
        scorer.retrain(msg, 'CCO', outputs[:1])


def test_bad_scoring_requests(records):
    scorer = RDKitScorer()
    single, inputs, *_ = _train(scorer, records, make_knn_model(), lower=False)
    multi, _, _, lower = _train(scorer, records, make_knn_model())
    with pytest.raises(TypeError):
        scorer.score(multi, inputs, lower_fidelity=lower)
    with pytest.raises(ShapeMismatchError, match='trained single-fidelity'):
        scorer.score(single, inputs, lower_fidelities=lower)
    with pytest.raises(ShapeMismatchError, match='1 levels but the model was trained with 2 lower levels'):
        scorer.score(multi, inputs, lower_fidelities=lower[:, :1])
    with pytest.raises(ShapeMismatchError):
        scorer.score(multi, inputs, lower_fidelities=lower[:-1])
    with pytest.raises(NotFittedError, match='untrained model'):
        scorer.score(make_knn_model(), inputs)
    with pytest.raises(TypeError, match='scikit-learn estimators'):
        scorer.score({'model': single}, inputs)


def test_pre_transform_featurises_on_the_steering_side(records):
    model = make_knn_model(n_neighbors=1)
    local = RDKitScorer(pre_transform=model[0])
    inputs = local.transform_inputs(records)
    assert isinstance(inputs, np.ndarray) and inputs.shape == (len(records), 256)
    with pytest.raises(ValueError, match=r'model\[1:\]'):
        local.prepare_message(model, training=True)
    trained, _, outputs, lower = _train(local, records, model[1:])
    assert np.allclose(local.score(trained, inputs, lower_fidelities=lower), outputs, atol=1e-12)
    single, *_ = _train(local, records, model[1:], lower=False)
    assert np.array_equal(local.score(single, inputs), outputs)
    with pytest.raises(TypeError, match='not SMILES'):
        local.score(single, [r.identifier.smiles for r in records])
    with pytest.raises(TypeError, match='transformer'):
        RDKitScorer(pre_transform='morgan')


def test_levels_with_different_featurisers(records):
    """Pipelines that do not share a featuriser are each run on the SMILES (slower, same arithmetic)."""
    scorer = RDKitScorer()
    inputs = scorer.transform_inputs(records)
    deltas = collect_outputs(records, FIDELITIES)
    deltas[:, 1:] = np.diff(deltas, axis=1)
    models = [make_knn_model(n_neighbors=1, radius=r).fit(inputs, d) for r, d in zip((2, 3, 4), deltas.T, strict=True)]
    lower = collect_outputs(records, FIDELITIES[:-1])
    assert scorer_module._shared_featuriser(models) is None
    assert np.allclose(scorer.score(models, inputs, lower_fidelities=lower), deltas.sum(axis=1), atol=1e-12)


@pytest.mark.parametrize('num_pcs', [None, 2])
def test_gpr_through_the_scorer(records, num_pcs):
    scorer = RDKitScorer()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # GPR convergence warnings on tiny data
        single, inputs, outputs, _ = _train(scorer, records, make_gpr_model(num_pcs=num_pcs, max_pcs=3), lower=False)
        multi, _, _, lower = _train(scorer, records, make_gpr_model(num_pcs=num_pcs, max_pcs=3))
    scores = scorer.score(single, inputs)
    assert scores.shape == (len(records),) and np.isfinite(scores).all()
    assert np.corrcoef(scores, outputs)[0, 1] > 0.5
    multi_scores = scorer.score(multi, inputs, lower_fidelities=lower)
    assert multi_scores.shape == (len(records),) and np.isfinite(multi_scores).all()


@pytest.mark.parametrize('make', [make_knn_model, make_gpr_model], ids=['knn', 'gpr'])
def test_inputs_straight_from_smiles_score_as_records(records, make):
    """``examol score`` forms inputs with transform_smiles, from SMILES however spelt: same scores as records."""
    from rdkit import Chem

    scorer = RDKitScorer()
    inputs, outputs = scorer.transform_inputs(records), scorer.transform_outputs(records, FIDELITIES[-1])
    model = scorer.update(make(), scorer.retrain(scorer.prepare_message(make(), training=True), inputs, outputs))
    spelt = [Chem.MolToSmiles(Chem.MolFromSmiles(r.identifier.smiles), doRandom=True) for r in records]
    assert spelt != [r.identifier.smiles for r in records]
    msg = scorer.prepare_message(model)
    np.testing.assert_allclose(scorer.score(msg, scorer.transform_smiles(spelt)), scorer.score(msg, inputs))
    with pytest.raises(InvalidIdentifierError, match='position 1'):
        scorer.score(msg, scorer.transform_smiles(['CCO', 'C1CC']))


def test_scoring_in_parts_from_worker_processes_matches_one_process(records, monkeypatch):
    """Parts featurised by worker processes are predicted as they arrive: each lands at its own rows, with its own
    lower levels."""
    from examol_rdkit import features

    monkeypatch.setattr(features, '_MIN_PARALLEL_CHUNK', 3)  # 40 molecules: chunks of 17, 17 and 6 in parts of 3
    monkeypatch.setattr(scorer_module, 'SCORE_CHUNK', 17)
    scorer = RDKitScorer()
    model, inputs, _, lower = _train(scorer, records, make_knn_model(n_neighbors=2))
    lower[::3, 1] = np.nan  # a different highest known level from one molecule to the next
    lower[::4] = np.nan
    one = scorer.score(model, inputs, lower_fidelities=lower)
    for level in model:
        level.set_params(fingerprints__n_jobs=2)
    parts = list(model[0][0]._blocks(inputs[:17], offset=0))
    assert [start for start, _ in parts] == [0, 3, 6, 9, 12, 15]
    assert np.array_equal(scorer.score(model, inputs, lower_fidelities=lower), one)
