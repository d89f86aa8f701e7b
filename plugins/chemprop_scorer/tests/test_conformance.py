"""The core's conformance kit, run on the chemprop scorer with tiny networks and few epochs."""
from __future__ import annotations

from functools import partial

from examol_chemprop import ChempropScorer, make_mpnn

from examol_core.testing import FIDELITIES, ScorerCase, parametrize_with_checks

TINY = {'hidden_size': 16, 'depth': 2, 'ffn_hidden_size': 16}
RETRAIN = {'num_epochs': 2, 'batch_size': 8, 'patience': None, 'seed': 0}

CASES = [
    # Three outputs: the lowest level and two deltas, so the same network serves the single-fidelity
    # checks (lower_fidelities=None sums the deltas) and the multi-fidelity ones
    ScorerCase(ChempropScorer(), partial(make_mpnn, **TINY, outputs=len(FIDELITIES)), retrain_kwargs=RETRAIN,
               atol=1e-5, name='chemprop-mpnn'),
    ScorerCase(ChempropScorer(retrain_from_scratch=False), partial(make_mpnn, **TINY, outputs=len(FIDELITIES),
                                                                 aggregation='norm', batch_norm=True),
               retrain_kwargs=RETRAIN, atol=1e-5, name='chemprop-mpnn-continued'),
]


@parametrize_with_checks(CASES)
def test_chemprop_scorer_conforms(case, check):
    check(case)
