"""Options of the RDKit models fail where they are given, naming the option; too-small training sets are refused."""
from __future__ import annotations

import warnings

import pytest
from examol_rdkit import FingerprintTransformer, RDKitScorer, make_gpr_model, make_knn_model

from examol_core.errors import InvalidLabelsError, InvalidOptionError
from examol_core.plugins import make_model


@pytest.mark.parametrize(('options', 'message'), [
    ({'radius': -1}, 'radius must be an integer of at least 0; got -1'),
    ({'length': 0}, 'length must be an integer of at least 1; got 0'),
    ({'n_neighbors': 'abc'}, "n_neighbors must be an integer of at least 1; got 'abc'"),
    ({'n_neighbors': 0}, 'n_neighbors must be an integer of at least 1; got 0'),
    ({'n_neighbors': 2.5}, 'n_neighbors must be an integer of at least 1; got 2.5'),
    ({'n_neighbors': -3}, 'n_neighbors must be an integer of at least 1; got -3'),
    ({'n_neighbors': True}, 'n_neighbors must be an integer of at least 1; got True'),
])
def test_knn_options_are_checked_when_the_model_is_built(options, message):
    with pytest.raises(InvalidOptionError, match=message):
        make_model('rdkit', 'knn', **options)


def test_featuriser_names_a_bad_radius_instead_of_overflowing():
    with pytest.raises(InvalidOptionError, match='radius must be an integer of at least 0; got -1'):
        FingerprintTransformer(radius=-1).transform(['CCO'])
    assert make_knn_model(radius=0, length=8)[0].transform(['CCO']).shape == (1, 8)


def test_gpr_refuses_a_single_record(smiles):
    scorer = RDKitScorer()
    msg = scorer.prepare_message(make_gpr_model(num_pcs=2), training=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a warning alone is not enough
        with pytest.raises(InvalidLabelsError, match='Need at least 2 labelled records to train; got 1'):
            scorer.retrain(msg, list(smiles[:1]), [1.0])
    assert scorer.retrain(msg, list(smiles[:3]), [1.0, 2.0, 1.5]) is not None
