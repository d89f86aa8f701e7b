"""The core's conformance kit, run on the RDKit scorer with each kind of model."""
from __future__ import annotations

import warnings
from functools import partial

import pytest
from examol_rdkit import FingerprintTransformer, RDKitScorer, make_gpr_model, make_knn_model

from examol_core.testing import ScorerCase, parametrize_with_checks


def _knn_features(n_neighbors: int):
    return make_knn_model(n_neighbors=n_neighbors)[1:]


CASES = [
    ScorerCase(RDKitScorer(), partial(make_knn_model, n_neighbors=1), memorises=True, name='knn1'),
    ScorerCase(RDKitScorer(), make_knn_model, name='knn'),
    ScorerCase(RDKitScorer(pre_transform=FingerprintTransformer()), partial(_knn_features, 1), memorises=True,
               name='knn1-pre_transform'),
    ScorerCase(RDKitScorer(), partial(make_gpr_model, num_pcs=2), name='gpr'),
    ScorerCase(RDKitScorer(), partial(make_gpr_model, max_pcs=3), name='gpr-cv'),
]


@pytest.fixture(autouse=True)
def quiet_gpr():
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', module='sklearn.gaussian_process')
        yield


@parametrize_with_checks(CASES)
def test_rdkit_scorer_conforms(case, check):
    check(case)
