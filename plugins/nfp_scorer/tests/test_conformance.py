"""The core's conformance kit, run on the NFP scorer with tiny networks and few epochs."""
from __future__ import annotations

from functools import partial

from examol_nfp import NFPScorer
from examol_nfp.model import make_simple_network

from examol_core.testing import FIDELITIES, ScorerCase, parametrize_with_checks

TINY = {'atom_features': 8, 'message_steps': 2, 'output_layers': (8,)}
RETRAIN = {'num_epochs': 2, 'batch_size': 8, 'patience': None}

CASES = [
    # Three outputs: the lowest level and two deltas, so the same network serves the single-fidelity
    # checks (lower_fidelities=None sums the deltas) and the multi-fidelity ones
    ScorerCase(NFPScorer(), partial(make_simple_network, **TINY, outputs=len(FIDELITIES)), retrain_kwargs=RETRAIN,
               atol=1e-5, name='nfp-mpnn'),
]


@parametrize_with_checks(CASES)
def test_nfp_scorer_conforms(case, check):
    check(case)
