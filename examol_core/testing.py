"""Conformance kit: check that a scorer honours the examol contract.

Plugin authors run it in their own tests, like scikit-learn's ``parametrize_with_checks``::

    from examol_core.testing import ScorerCase, parametrize_with_checks

    @parametrize_with_checks([ScorerCase(MyScorer(), make_model=my_model_factory, memorises=True)])
    def test_conformance(case, check):
        check(case)

Each check is a plain function of a :class:`ScorerCase`; a failure raises
:class:`ConformanceError` naming the check, the scorer, what was expected and what came back.
Everything runs in-process; the checks pickle every message as a worker would receive it.
"""
from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from examol_core.multifi import collect_outputs
from examol_core.recipes import RedoxEnergy
from examol_core.records import MoleculeRecord
from examol_core.scorer import MultiFidelityScorer, Scorer

#: Small, real molecules used by the checks (QM9-sized, varied functional groups).
REFERENCE_SMILES: tuple[str, ...] = (
    'C', 'CC', 'CCO', 'CCN', 'CC(=O)O', 'c1ccccc1', 'c1ccncc1', 'CC(C)O', 'OCCO', 'CC#N',
    'C1CCCCC1', 'c1ccc(O)cc1', 'CC(=O)C', 'NC(=O)N', 'COC', 'c1ccoc1', 'CCCC', 'CC(F)(F)F',
)

#: Recipes of the three fidelity levels used by the checks, lowest first.
FIDELITIES = (RedoxEnergy(1, 'low', vertical=True), RedoxEnergy(1, 'medium', vertical=True), RedoxEnergy(1, 'high'))


class ConformanceError(AssertionError):
    """A scorer broke the contract; the message names the check and the scorer."""


@dataclass
class ScorerCase:
    """A scorer and how to make its model, as the kit should test it.

    Attributes:
        scorer: The scorer under test.
        make_model: Builds a fresh, untrained model.
        memorises: Whether the model reproduces its training labels exactly (e.g. 1-nearest
            neighbour); enables the checks that compare predictions with known values.
        retrain_kwargs: Extra keyword arguments for ``retrain`` (e.g. few epochs).
        score_kwargs: Extra keyword arguments for ``score``.
        atol: Tolerance for the numeric comparisons.
        name: Shown in test ids; defaults to the scorer's class name.
    """

    scorer: Scorer
    make_model: Callable[[], Any]
    memorises: bool = False
    retrain_kwargs: dict[str, Any] = field(default_factory=dict)
    score_kwargs: dict[str, Any] = field(default_factory=dict)
    atol: float = 1e-6
    name: str = ''

    def __post_init__(self) -> None:
        self.name = self.name or type(self.scorer).__name__

    def __str__(self) -> str:
        return self.name


def make_reference_records(smiles: Sequence[str] = REFERENCE_SMILES, missing_top: Sequence[int] = ()) -> list[MoleculeRecord]:
    """Records with synthetic but molecule-dependent values at the three levels of :data:`FIDELITIES`.

    The values are deterministic functions of atom counts, so that a model can learn them.

    Args:
        missing_top: indices of records whose highest level is left unknown.
    """
    from rdkit import Chem

    records = []
    for i, smi in enumerate(smiles):
        record = MoleculeRecord.from_identifier(smi)
        mol = Chem.MolFromSmiles(smi)
        heavy = mol.GetNumHeavyAtoms()
        hetero = sum(a.GetSymbol() not in ('C', 'H') for a in mol.GetAtoms())
        aromatic = sum(a.GetIsAromatic() for a in mol.GetAtoms())
        values = (5. + 0.3 * heavy + 0.5 * hetero, 0.2 + 0.1 * aromatic - 0.05 * heavy, -0.3 + 0.07 * hetero)
        total = 0.
        for j, (recipe, delta) in enumerate(zip(FIDELITIES, values)):
            total += delta
            if j == len(FIDELITIES) - 1 and i in missing_top:
                break
            record.properties.setdefault(recipe.name, {})[recipe.level] = total
        records.append(record)
    return records


def _fail(check: str, case: ScorerCase, message: str) -> ConformanceError:
    return ConformanceError(f'[{check}] {case.name}: {message}')


def _roundtrip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


def _training_data(case: ScorerCase, records: Sequence[MoleculeRecord]) -> tuple[Any, np.ndarray]:
    """The scorer's inputs for ``records`` and their top-level labels."""
    return case.scorer.transform_inputs(records), case.scorer.transform_outputs(records, FIDELITIES[-1])


def _train(case: ScorerCase, records: Sequence[MoleculeRecord], lower: bool = False) -> tuple[Any, Any]:
    scorer = case.scorer
    inputs, outputs = _training_data(case, records)
    model = case.make_model()
    msg = _roundtrip(scorer.prepare_message(model, training=True))
    kwargs = dict(case.retrain_kwargs)
    if lower:
        kwargs['lower_fidelities'] = collect_outputs(records, FIDELITIES[:-1])
    update = scorer.retrain(msg, _roundtrip(inputs), outputs, **kwargs)
    update = _roundtrip(update)
    return scorer.update(model, update), inputs


def _score(case: ScorerCase, model: Any, inputs: Any, **kwargs) -> np.ndarray:
    msg = _roundtrip(case.scorer.prepare_message(model, training=False))
    return case.scorer.score(msg, _roundtrip(inputs), **case.score_kwargs, **kwargs)


def check_messages_pickle(case: ScorerCase) -> None:
    """Model messages (training and inference), inputs and update messages survive pickling."""
    records = make_reference_records()
    scorer = case.scorer
    for obj, what in ((scorer, 'the scorer'), (scorer.transform_inputs(records), 'transform_inputs output'),
                      (scorer.prepare_message(case.make_model(), training=True), 'the training message')):
        try:
            _roundtrip(obj)
        except Exception as exc:
            raise _fail('messages_pickle', case, f'{what} does not pickle: {exc!r}') from exc
    model, _ = _train(case, records)  # _train pickles the update message
    try:
        _roundtrip(scorer.prepare_message(model, training=False))
    except Exception as exc:
        raise _fail('messages_pickle', case, f'the inference message does not pickle: {exc!r}') from exc


def check_round_trip(case: ScorerCase) -> None:
    """retrain → update → score returns a 1-D float array, one finite score per input."""
    records = make_reference_records()
    model, inputs = _train(case, records)
    scores = _score(case, model, inputs)
    if not isinstance(scores, np.ndarray) or scores.shape != (len(records),) or not np.issubdtype(scores.dtype, np.floating):
        raise _fail('round_trip', case, f'expected a float array of shape ({len(records)},); got '
                                        f'{type(scores).__name__} {getattr(scores, "shape", "")} {getattr(scores, "dtype", "")}')
    if not np.isfinite(scores).all():
        raise _fail('round_trip', case, f'scores contain NaN or infinity: {scores}')
    single = _score(case, model, case.scorer.transform_inputs(records[:1]))
    if np.shape(single) != (1,):
        raise _fail('round_trip', case, f'scoring one molecule should give shape (1,); got {np.shape(single)}')
    if case.memorises:
        expected = case.scorer.transform_outputs(records, FIDELITIES[-1])
        if not np.allclose(scores, expected, atol=case.atol):
            raise _fail('round_trip', case, f'a memorising model should reproduce its labels {expected}; got {scores}')


def _state(obj: Any) -> bytes | None:
    """Bytes standing for a model's state, or ``None`` if it does not pickle the same way twice.

    A network stands for its weights (``get_weights()`` of Keras, ``state_dict()`` of PyTorch):
    its pickle also holds caches (traced functions) that using it changes.
    """
    if callable(getattr(obj, 'get_weights', None)):
        obj = obj.get_weights()
    elif callable(getattr(obj, 'state_dict', None)):
        obj = {k: v.detach().cpu().numpy() if hasattr(v, 'detach') else v for k, v in obj.state_dict().items()}
    try:
        first, second = pickle.dumps(obj), pickle.dumps(obj)
    except Exception:
        return None
    return first if first == second else None


def check_pure_functions(case: ScorerCase) -> None:
    """retrain and score leave their arguments unchanged, and neither touches the local model.

    In-process, the message of ``prepare_message`` may share objects with the local model, so a
    ``score`` or ``retrain`` that modifies what it is given would change the model too.
    """
    records = make_reference_records()
    scorer = case.scorer
    multi = isinstance(scorer, MultiFidelityScorer)
    model, inputs = _train(case, records, lower=multi)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    lower = collect_outputs(records, FIDELITIES[:-1]) if multi else None
    extra = {'lower_fidelities': lower} if multi else {}
    given = {'inputs': inputs, 'outputs': outputs, 'lower_fidelities': lower}
    before = {name: pickle.dumps(value) for name, value in given.items()}
    model_state = _state(model)
    predictions = _score(case, model, inputs, **extra)
    for step in ('retrain', 'score'):
        if step == 'retrain':
            scorer.retrain(scorer.prepare_message(model, training=True), inputs, outputs, **extra, **case.retrain_kwargs)
        else:
            scorer.score(scorer.prepare_message(model), inputs, **extra, **case.score_kwargs)
        for name, value in given.items():
            if pickle.dumps(value) != before[name]:
                raise _fail('pure_functions', case, f'{step} modified the {name} it was given')
        if model_state is not None and _state(model) != model_state:
            raise _fail('pure_functions', case, f'{step} modified the local model (through its message)')
        after = _score(case, model, inputs, **extra)
        if not np.array_equal(after, predictions, equal_nan=True):
            raise _fail('pure_functions', case, f'{step} changed what the local model predicts: {predictions[:3]}... '
                        f'became {after[:3]}...')


def check_bad_training_data(case: ScorerCase) -> None:
    """Length mismatches and NaN labels in single-fidelity training raise ValueError."""
    records = make_reference_records()
    scorer = case.scorer
    inputs, outputs = _training_data(case, records)
    msg = scorer.prepare_message(case.make_model(), training=True)
    bad_nan = outputs.copy()
    bad_nan[3] = np.nan
    for label, outs in (('outputs shorter than inputs', outputs[:-2]), ('a NaN label', bad_nan)):
        try:
            scorer.retrain(msg, inputs, outs, **case.retrain_kwargs)
        except ValueError:
            continue
        except Exception as exc:
            raise _fail('bad_training_data', case, f'{label} should raise ValueError; raised {exc!r}') from exc
        raise _fail('bad_training_data', case, f'{label} should raise ValueError; training succeeded')


def check_unknown_keyword(case: ScorerCase) -> None:
    """A misspelt keyword (``lower_fidelity``) raises TypeError instead of being silently ignored."""
    records = make_reference_records()
    scorer = case.scorer
    inputs, outputs = _training_data(case, records)
    lower = collect_outputs(records, FIDELITIES[:-1])
    msg = scorer.prepare_message(case.make_model(), training=True)
    try:
        scorer.retrain(msg, inputs, outputs, lower_fidelity=lower, **case.retrain_kwargs)
    except TypeError:
        pass
    else:
        raise _fail('unknown_keyword', case, 'retrain(lower_fidelity=...) (misspelt) should raise TypeError')
    model, _ = _train(case, records)
    try:
        _score(case, model, inputs, lower_fidelity=lower)
    except TypeError:
        pass
    else:
        raise _fail('unknown_keyword', case, 'score(lower_fidelity=...) (misspelt) should raise TypeError')


def check_multifidelity(case: ScorerCase) -> None:
    """Multi-fidelity scorers honour ``lower_fidelities`` as DESIGN.md describes.

    With every lower level known, only the last delta is predicted: shifting every known
    lower value by a constant shifts the estimate by the same constant, and a memorising model
    reproduces the top-level labels exactly. Training works when some records lack the top
    level, and ``lower_fidelities=None`` still gives single-fidelity scores.
    """
    scorer = case.scorer
    if not isinstance(scorer, MultiFidelityScorer):
        return
    for method in ('score', 'retrain'):
        if 'lower_fidelities' not in inspect.signature(getattr(scorer, method)).parameters:
            raise _fail('multifidelity', case, f'{method} has no lower_fidelities parameter')
    records = make_reference_records(missing_top=(2, 7))
    model, inputs = _train(case, records, lower=True)
    lower = collect_outputs(records, FIDELITIES[:-1])
    scores = _score(case, model, inputs, lower_fidelities=lower)
    if np.shape(scores) != (len(records),) or not np.isfinite(scores).all():
        raise _fail('multifidelity', case, f'expected {len(records)} finite scores; got {scores}')
    shifted = _score(case, model, inputs, lower_fidelities=lower + 1.5)
    if not np.allclose(shifted, scores + 1.5, atol=max(case.atol, 1e-5)):
        raise _fail('multifidelity', case, 'with every lower level known, raising the known values by 1.5 should raise '
                                           f'the estimate by 1.5; got differences {shifted - scores}')
    if case.memorises:
        expected = collect_outputs(records, FIDELITIES)[:, -1]
        known = ~np.isnan(expected)
        if not np.allclose(scores[known], expected[known], atol=case.atol):
            raise _fail('multifidelity', case, f'with all lower levels known a memorising model should return the top-level '
                                               f'labels {expected[known]}; got {scores[known]}')
    partial = lower.copy()
    partial[:, 1] = np.nan
    partial_scores = _score(case, model, inputs, lower_fidelities=partial)
    if np.shape(partial_scores) != (len(records),) or not np.isfinite(partial_scores).all():
        raise _fail('multifidelity', case, f'with some lower levels unknown, expected finite scores; got {partial_scores}')
    no_lower = _score(case, model, inputs)
    if np.shape(no_lower) != (len(records),) or not np.isfinite(no_lower).all():
        raise _fail('multifidelity', case, f'lower_fidelities=None should still give finite scores; got {no_lower}')


ALL_CHECKS: tuple[Callable[[ScorerCase], None], ...] = (
    check_messages_pickle, check_round_trip, check_pure_functions, check_bad_training_data,
    check_unknown_keyword, check_multifidelity,
)


def check_scorer(case: ScorerCase) -> None:
    """Run every check on one case; raises :class:`ConformanceError` at the first failure."""
    for check in ALL_CHECKS:
        check(case)


def parametrize_with_checks(cases: Sequence[ScorerCase]):
    """A pytest decorator running every check on every case, with ids ``<case>-<check>``."""
    import pytest

    params = [pytest.param(case, check, id=f'{case.name}-{check.__name__.removeprefix("check_")}')
              for case in cases for check in ALL_CHECKS]
    return pytest.mark.parametrize(('case', 'check'), params)
