"""The conformance kit, run on the toy scorer and on scorers that break the contract."""
import numpy as np
import pytest

from examol_core.testing import (
    ConformanceError,
    ScorerCase,
    check_bad_training_data,
    check_multifidelity,
    check_pure_functions,
    check_unknown_keyword,
    parametrize_with_checks,
)


@pytest.fixture(scope='module')
def toy(toy_module):
    return toy_module


def _cases():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent / 'toy_plugin'))
    from examol_toy import LookupModel, LookupScorer
    return [ScorerCase(LookupScorer(), LookupModel, memorises=True, name='toy-lookup')]


@parametrize_with_checks(_cases())
def test_toy_scorer_conforms(case, check):
    check(case)


def test_kit_catches_swallowed_keywords(toy):
    class Sloppy(toy.LookupScorer):
        def score(self, model_msg, inputs, lower_fidelities=None, **kwargs):
            return super().score(model_msg, inputs, lower_fidelities)

    with pytest.raises(ConformanceError, match=r'\[unknown_keyword\] Sloppy: score\(lower_fidelity=...\)'):
        check_unknown_keyword(ScorerCase(Sloppy(), toy.LookupModel))


def test_kit_catches_nan_labels_accepted(toy):
    class Lenient(toy.LookupScorer):
        def retrain(self, model_msg, inputs, outputs, lower_fidelities=None):
            outputs = np.nan_to_num(np.asarray(outputs, dtype=float)[:len(inputs)])
            return [({}, float(np.mean(outputs)))]

    with pytest.raises(ConformanceError, match=r'\[bad_training_data\] Lenient: .*should raise ValueError'):
        check_bad_training_data(ScorerCase(Lenient(), toy.LookupModel))


def test_kit_catches_ignored_lower_fidelities(toy):
    class SingleOnly(toy.LookupScorer):
        def score(self, model_msg, inputs, lower_fidelities=None):
            return super().score(model_msg, inputs, None)

    with pytest.raises(ConformanceError, match=r'\[multifidelity\] SingleOnly'):
        check_multifidelity(ScorerCase(SingleOnly(), toy.LookupModel, memorises=True))


def test_kit_catches_a_score_that_changes_its_inputs(toy):
    class Sorting(toy.LookupScorer):
        def score(self, model_msg, inputs, lower_fidelities=None):
            scores = super().score(model_msg, inputs, lower_fidelities)
            inputs.sort()
            return scores

    with pytest.raises(ConformanceError, match=r'\[pure_functions\] Sorting: score modified the inputs'):
        check_pure_functions(ScorerCase(Sorting(), toy.LookupModel))


def test_kit_catches_a_score_that_changes_the_local_model(toy):
    class Caching(toy.LookupScorer):
        """Remembers what it scored in the tables it was given: which are the local model's."""

        def score(self, model_msg, inputs, lower_fidelities=None):
            scores = super().score(model_msg, inputs, lower_fidelities)
            model_msg[0][0].update({smiles: 0. for smiles in inputs})
            return scores

    with pytest.raises(ConformanceError, match=r'\[pure_functions\] Caching: score modified the local model'):
        check_pure_functions(ScorerCase(Caching(), toy.LookupModel))
