import numpy as np
import pytest

from examol_core import MoleculeRecord, RedoxEnergy
from examol_core.errors import InvalidLabelsError, ShapeMismatchError
from examol_core.multifi import check_training_data, collect_outputs, compute_deltas, delta_targets, predict_from_deltas

LEVELS = [RedoxEnergy(1, 'gfn1', vertical=True), RedoxEnergy(1, 'gfn2', vertical=True), RedoxEnergy(1, 'gfn2')]


@pytest.fixture()
def records():
    out = []
    for smiles, values in (('CCO', (10.0, 11.0, 10.5)), ('c1ccccc1', (9.0, None, 8.0)), ('CC#N', (12.0, 12.5, None))):
        record = MoleculeRecord.from_identifier(smiles)
        for recipe, value in zip(LEVELS, values):
            if value is not None:
                record.properties.setdefault(recipe.name, {})[recipe.level] = value
        out.append(record)
    return out


def test_collect_outputs(records):
    values = collect_outputs(records, LEVELS)
    assert values.shape == (3, 3)
    np.testing.assert_array_equal(values, [[10.0, 11.0, 10.5], [9.0, np.nan, 8.0], [12.0, 12.5, np.nan]])


def test_deltas_and_their_inverse(records):
    values = collect_outputs(records, LEVELS)
    deltas = compute_deltas(values)
    np.testing.assert_allclose(deltas[0], [10.0, 1.0, -0.5])
    assert np.isnan(deltas[1, 1]) and np.isnan(deltas[1, 2]), 'a delta needs both of its levels'
    # Every lower level known: the answer is the known value plus the last predicted delta
    predicted = np.array([[99., 99., -0.5], [99., 99., 0.2], [99., 99., 0.1]])
    full = np.array([[10.0, 11.0], [9.0, 8.5], [12.0, 12.5]])
    np.testing.assert_allclose(predict_from_deltas(predicted, full), [10.5, 8.7, 12.6])
    # Gaps: the highest known level is the base, every delta above it is predicted
    partial = np.array([[10.0, np.nan], [np.nan, np.nan], [np.nan, 12.5]])
    np.testing.assert_allclose(predict_from_deltas(predicted, partial), [10 + 99 - 0.5, 99 + 99 + 0.2, 12.6])
    np.testing.assert_allclose(predict_from_deltas(predicted, None), predicted.sum(axis=1))
    with pytest.raises(ShapeMismatchError, match=r'\(3, 2\)'):
        predict_from_deltas(predicted, full[:, :1])


def test_true_deltas_invert_exactly(records):
    values = collect_outputs(records, LEVELS)[[0]]
    np.testing.assert_allclose(predict_from_deltas(compute_deltas(values), values[:, :-1]), values[:, -1])
    np.testing.assert_allclose(predict_from_deltas(compute_deltas(values), None), values[:, -1])


def test_delta_targets_use_records_that_have_the_level(records):
    values = collect_outputs(records, LEVELS)
    (rows0, t0), (rows1, t1), (rows2, t2) = delta_targets(values[:, -1], values[:, :-1])
    assert rows0.tolist() == [0, 1, 2] and t0.tolist() == [10.0, 9.0, 12.0]
    assert rows1.tolist() == [0, 2] and t1 == pytest.approx([1.0, 0.5])
    assert rows2.tolist() == [0] and t2 == pytest.approx([-0.5])


def test_training_data_checks():
    with pytest.raises(ShapeMismatchError, match='3 inputs but 2 outputs'):
        check_training_data(3, np.array([1., 2.]))
    with pytest.raises(InvalidLabelsError, match='index 1'):
        check_training_data(3, np.array([1., np.nan, 2.]))
    outputs, lower = check_training_data(2, [1., np.nan], np.array([[0.5], [0.7]]))
    assert lower.shape == (2, 1)
    with pytest.raises(InvalidLabelsError, match='Level 1'):
        check_training_data(2, [np.nan, np.nan], np.array([[0.5], [0.7]]))
    with pytest.raises(ShapeMismatchError, match='lower_fidelities'):
        check_training_data(2, [1., 2.], np.array([0.5, 0.7]))
