"""The model factories and the estimators they are built from."""
from __future__ import annotations

import importlib
import pickle
import warnings

import examol_rdkit
import numpy as np
import pytest
from examol_rdkit import knn as knn_module
from examol_rdkit.knn import TanimotoKNNRegressor
from examol_rdkit.models import BoundedPCA, make_gpr_model, make_knn_model
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsRegressor


@pytest.fixture()
def bits():
    rng = np.random.default_rng(4)
    train = (rng.random((60, 48)) < 0.3).astype(np.uint8)
    train[5] = 0  # an empty fingerprint
    query = (rng.random((25, 48)) < 0.3).astype(np.uint8)
    query[0] = 0
    query[1] = train[7]
    return train, rng.normal(size=len(train)), query


def test_tanimoto_knn_matches_sklearn_jaccard(bits, monkeypatch):
    train, y, query = bits
    ours = TanimotoKNNRegressor(n_neighbors=3).fit(train, y)
    reference = KNeighborsRegressor(n_neighbors=3, metric='jaccard', algorithm='brute').fit(train.astype(bool), y)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # sklearn warns about converting to bool
        ref_dist, _ = reference.kneighbors(query.astype(bool))
    dist, index = ours.kneighbors(query)
    assert np.allclose(dist, ref_dist, atol=1e-6)
    assert index[1, 0] == 7 and dist[1, 0] == 0
    assert np.allclose(ours.predict(query), y[index].mean(axis=1))
    # Small blocks give the same answer as one big block
    monkeypatch.setattr(knn_module, '_BLOCK_ELEMENTS', 100)
    assert np.allclose(ours.predict(query), y[index].mean(axis=1))


def test_one_neighbour_reproduces_training_labels(bits):
    train, y, _ = bits
    assert np.array_equal(TanimotoKNNRegressor(n_neighbors=1).fit(train, y).predict(train), y)


def test_tanimoto_knn_errors_and_pickling(bits):
    train, y, query = bits
    with pytest.raises(NotFittedError):
        TanimotoKNNRegressor().predict(query)
    with pytest.raises(ValueError, match='at least n_neighbors=5'):
        TanimotoKNNRegressor(n_neighbors=5).fit(train[:3], y[:3])
    model = TanimotoKNNRegressor(n_neighbors=2).fit(train, y)
    with pytest.raises(ValueError, match='features'):
        model.predict(query[:, :10])
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict(query), model.predict(query))
    assert clone(model).get_params() == {'n_neighbors': 2, 'n_jobs': None}
    assert np.array_equal(clone(model).set_params(n_jobs=2).fit(train, y).predict(query), model.predict(query))


def test_bounded_pca_caps_components():
    X = np.random.default_rng(0).normal(size=(4, 9))
    assert BoundedPCA(n_components=10).fit(X).transform(X).shape == (4, 4)
    assert BoundedPCA(n_components=2).fit(X).n_components_ == 2


def test_knn_model(smiles):
    model = make_knn_model(n_neighbors=1, length=128, radius=3, n_jobs=2)
    assert model.named_steps['fingerprints'].get_params() == {'function': 'morgan', 'length': 128, 'radius': 3, 'n_jobs': 2}
    assert model.named_steps['knn'].get_params() == {'n_neighbors': 1, 'n_jobs': 2}
    y = np.linspace(0, 1, len(smiles))
    assert np.array_equal(model.fit(smiles, y).predict(smiles), y)


@pytest.mark.parametrize('num_pcs', [None, 3])
def test_gpr_model_trains_and_scores(smiles, num_pcs):
    model = make_gpr_model(num_pcs=num_pcs, max_pcs=4, k=3)
    from examol_rdkit.features import doan_2020_descriptors, parse_smiles
    y = doan_2020_descriptors(parse_smiles(smiles[:30]))[:, 0] / 100  # molecular weight: smooth in the descriptors
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # GPR convergence warnings on tiny data
        model.fit(smiles[:30], y)
    predictions = model.predict(smiles[30:40])
    assert predictions.shape == (10,) and np.isfinite(predictions).all()
    if num_pcs is None:
        assert isinstance(model[-1], GridSearchCV) and model[-1].best_params_['pca__n_components'] in range(1, 5)
    else:
        assert model.named_steps['pca'].n_components_ == 3


def test_trusted_types_name_importable_types():
    for name in examol_rdkit.TRUSTED_TYPES:
        module, _, attr = name.rpartition('.')
        assert getattr(importlib.import_module(module), attr).__module__ == module
    assert {'examol_rdkit.features.FingerprintTransformer', 'examol_rdkit.knn.TanimotoKNNRegressor',
            'examol_rdkit.models.BoundedPCA'} <= set(examol_rdkit.TRUSTED_TYPES)


@pytest.mark.parametrize('factory', [make_knn_model, lambda: make_gpr_model(max_pcs=2), lambda: make_gpr_model(num_pcs=2)],
                         ids=['knn', 'gpr-cv', 'gpr'])
def test_models_save_with_skops(smiles, factory, tmp_path):
    """Models hold only scikit-learn, NumPy and the classes of TRUSTED_TYPES, so skops can save them."""
    sio = pytest.importorskip('skops.io')
    y = np.arange(12.)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = factory().fit(smiles[:12], y)
    path = tmp_path / 'model.skops'
    sio.dump(model, path)
    untrusted = set(sio.get_untrusted_types(file=path))
    assert untrusted <= set(examol_rdkit.TRUSTED_TYPES), untrusted - set(examol_rdkit.TRUSTED_TYPES)
    loaded = sio.load(path, trusted=list(untrusted))
    assert np.allclose(loaded.predict(smiles[12:20]), model.predict(smiles[12:20]))
