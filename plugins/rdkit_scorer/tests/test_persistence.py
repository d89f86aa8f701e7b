"""Saving and loading RDKit-scorer models: skops payloads that load without running code from the file."""
from __future__ import annotations

import json

import numpy as np
import pytest
from examol_rdkit import RDKitScorer, make_gpr_model, make_knn_model
from examol_rdkit.features import FingerprintTransformer
from examol_rdkit.persistence import META, PAYLOAD
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import Pipeline

from examol_core.errors import IncompatibleVersionError
from examol_core.modelfile import load_model_file, save_model_file
from examol_core.multifi import collect_outputs
from examol_core.testing import FIDELITIES


class MeanRegressor(RegressorMixin, BaseEstimator):
    """A class skops does not trust: a file holding it must be refused."""

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def _train(scorer, model, records, lower=False):
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    kwargs = {'lower_fidelities': collect_outputs(records, FIDELITIES[:-1])} if lower else {}
    return scorer.update(model, scorer.retrain(scorer.prepare_message(model, training=True), inputs, outputs,
                                               **kwargs)), inputs, kwargs


@pytest.mark.parametrize('make', [make_knn_model, make_gpr_model], ids=['knn', 'gpr'])
@pytest.mark.parametrize('lower', [False, True], ids=['single', 'multifidelity'])
def test_round_trip_gives_the_same_predictions(records, tmp_path, make, lower):
    scorer = RDKitScorer()
    model, inputs, kwargs = _train(scorer, make(), records, lower)
    scorer.save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([PAYLOAD, META])
    loaded = scorer.load_model(tmp_path)
    np.testing.assert_array_equal(scorer.score(scorer.prepare_message(loaded), inputs, **kwargs),
                                  scorer.score(scorer.prepare_message(model), inputs, **kwargs))


def test_model_file_with_an_ensemble(records, tmp_path):
    scorer = RDKitScorer()
    members = [_train(scorer, make_knn_model(n_neighbors=k), records)[0] for k in (1, 3)]
    save_model_file(tmp_path / 'knn.zip', members, scorer_name='rdkit', model_name='knn', recipe=FIDELITIES[-1])
    saved = load_model_file(tmp_path / 'knn.zip')
    assert saved.manifest.plugin.distribution == 'examol-rdkit' and len(saved.members) == 2
    assert [m[-1].n_neighbors for m in saved.members] == [1, 3]


def test_untrusted_types_are_refused_not_loaded(records, tmp_path):
    scorer = RDKitScorer()
    model = Pipeline([('fingerprints', FingerprintTransformer()), ('mean', MeanRegressor())])
    model, _, _ = _train(scorer, model, records)
    scorer.save_model(model, tmp_path)
    with pytest.raises(IncompatibleVersionError, match=r'types examol-rdkit does not trust: .*MeanRegressor'):
        scorer.load_model(tmp_path)


def test_newer_payload_and_missing_files(records, tmp_path):
    scorer = RDKitScorer()
    with pytest.raises(IncompatibleVersionError, match='not an examol-rdkit model'):
        scorer.load_model(tmp_path)
    model, _, _ = _train(scorer, make_knn_model(), records)
    scorer.save_model(model, tmp_path)
    meta = json.loads((tmp_path / META).read_text())
    (tmp_path / META).write_text(json.dumps({**meta, 'payload_version': 99, 'examol-rdkit': '9.0'}))
    with pytest.raises(IncompatibleVersionError, match='payload of version 99 written by examol-rdkit 9.0.*Upgrade'):
        scorer.load_model(tmp_path)
