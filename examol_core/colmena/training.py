"""Train a model (or a bootstrap ensemble) on a task-server worker and save it: the engine of ``examol train``.

:func:`train_model_file` does everything the command does, from a records file to a model
file; a thinker or a notebook that already has a :class:`~examol_core.colmena.ScorerClient`
calls :func:`load_training_set` and :func:`train_models` instead. Everything here runs on the
steering side; only ``scorer.retrain`` runs on a worker.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from examol_core.colmena.thinker import RetrainJob, ScorerClient, TaskFailure
from examol_core.errors import ExamolError, InvalidLabelsError
from examol_core.recipes import PropertyRecipe
from examol_core.records import MoleculeRecord

__all__ = ['TrainingSet', 'TrainingFailed', 'TrainSummary', 'load_training_set', 'train_models', 'train_model_file']

TrainProgress = Callable[[str, str], None]
"""Called with ``(stage, message)``: stages ``loaded``, ``starting`` (the task server), ``training``, ``saved``."""


class TrainingFailed(ExamolError, RuntimeError):
    """A training task failed on its worker; :attr:`failures` holds each error and traceback."""

    def __init__(self, failures: Sequence[TaskFailure]):
        self.failures = list(failures)
        super().__init__('; '.join(str(f) for f in self.failures))


@dataclass
class TrainingSet:
    """The records of a file that know the property to learn (or, multi-fidelity, any of its levels)."""

    source: str
    total: int
    records: list[MoleculeRecord]
    recipe: PropertyRecipe
    lower_recipes: list[PropertyRecipe]

    def describe(self) -> str:
        """``'FILE: N records, M with LEVEL'``, for a progress line."""
        what = self.recipe.spec if not self.lower_recipes else 'any of the levels'
        return f'{self.source}: {self.total} records, {len(self.records)} with {what}'

    def arrays(self, scorer: Any) -> tuple[Any, np.ndarray, np.ndarray | None]:
        """``(inputs, outputs, lower_fidelities)`` for ``scorer`` (``None`` without lower levels)."""
        from examol_core.multifi import collect_outputs

        outputs = scorer.transform_outputs(self.records, self.recipe)
        lower = collect_outputs(self.records, self.lower_recipes) if self.lower_recipes else None
        return scorer.transform_inputs(self.records), outputs, lower


def _recipe(recipe: PropertyRecipe | str) -> PropertyRecipe:
    return recipe if isinstance(recipe, PropertyRecipe) else PropertyRecipe.from_spec(recipe)


def _check_identifiers(source: str, lines: list[int], records: list[MoleculeRecord], where: str) -> None:
    """Every SMILES to train on parses, so that a bad one is named by its line in the file, before any task runs."""
    from examol_core.errors import InvalidIdentifierError
    from examol_core.records import parse_identifier

    for line, record in zip(lines, records, strict=True):
        try:
            parse_identifier(record.identifier.smiles)
        except InvalidIdentifierError as exc:
            raise InvalidIdentifierError(record.identifier.smiles, reason=f'(in {source}, {where} {line}) {exc.reason}'
                                         ) from None


def load_training_set(records: str | os.PathLike | Sequence[MoleculeRecord], recipe: PropertyRecipe | str,
                      lower: Sequence[PropertyRecipe | str] = ()) -> TrainingSet:
    """Read records (a JSON-lines file, or records already in memory) and keep those that can train.

    Single-fidelity, a record must know ``recipe``; multi-fidelity (``lower`` given, lowest
    first), it must know at least one of the levels.

    Raises:
        FileNotFoundError: no such records file.
        InvalidLabelsError: no record knows the property (the message lists what they know).
        InvalidIdentifierError: a record to train on has a SMILES that does not parse (naming its line).
    """
    from examol_core.multifi import collect_outputs
    from examol_core.records import read_numbered_records

    top, lowers = _recipe(recipe), [_recipe(r) for r in lower]
    if isinstance(records, (str, os.PathLike)):
        if not Path(records).exists():  # a folder is named as such by read_numbered_records
            raise FileNotFoundError(f'records file {records} does not exist')
        source, numbered = str(records), list(read_numbered_records(records))
        lines, all_records = [n for n, _ in numbered], [r for _, r in numbered]
    else:
        source, all_records = 'records', list(records)
        lines = list(range(len(all_records)))
    levels = collect_outputs(all_records, [*lowers, top])
    known = ~np.isnan(levels[:, -1]) if not lowers else ~np.isnan(levels).all(axis=1)
    selected = [r for r, keep in zip(all_records, known, strict=True) if keep]
    _check_identifiers(source, [n for n, keep in zip(lines, known, strict=True) if keep], selected,
                       'line' if isinstance(records, (str, os.PathLike)) else 'record')
    training = TrainingSet(source, len(all_records), selected, top, lowers)
    if not selected:
        names = sorted({f'{n}/{lv}' for r in all_records[:1000] for n, d in r.properties.items() for lv in d})
        what = top.spec if not lowers else 'any of the levels'
        raise InvalidLabelsError(f'no record has {what}; properties found: {", ".join(names) or "none"}')
    return training


def train_models(client: ScorerClient, models: Any, training: TrainingSet, *, seed: int = 0,
                 timeout: float | None = None, check_alive: Callable[[], None] | None = None) -> tuple[Any, RetrainJob]:
    """Train ``models`` (one, or a list: a bootstrap ensemble) on a worker and fold the results back.

    Returns:
        The updated model(s) and the finished job (its ``bootstrap`` says whether members were resampled).
    Raises:
        TrainingFailed: a training task failed.
    """
    inputs, outputs, lower = training.arrays(client.scorer)
    job = client.submit_retrain(models, inputs, outputs, lower_fidelities=lower, seed=seed)
    if not job.wait(timeout=timeout, check_alive=check_alive):
        raise TrainingFailed(list(job.failures.values()))
    return job.update(models), job


_RETRAIN_ARGUMENTS = ('model_msg', 'inputs', 'outputs', 'lower_fidelities')
"""Arguments of ``Scorer.retrain`` that examol gives itself: not training options."""


def check_training_size(scorer: Any, model: Any, training: TrainingSet) -> None:
    """Check the labels and that there are enough records for ``model``, before any task is sent.

    Raises:
        InvalidLabelsError: too few records (or, multi-fidelity, too few for one of the levels).
    """
    from examol_core.multifi import check_training_data, collect_outputs

    outputs = scorer.transform_outputs(training.records, training.recipe)
    lower = collect_outputs(training.records, training.lower_recipes) if training.lower_recipes else None
    try:
        check_training_data(len(outputs), outputs, lower, min_records=scorer.min_records(model))
    except InvalidLabelsError as exc:
        raise InvalidLabelsError(f'{training.source}: {exc}') from None


@dataclass
class TrainSummary:
    """What :func:`train_model_file` trained and wrote."""

    output: Path
    manifest: Any
    training: TrainingSet


def _make_models(scorer_name: str, model_name: str, options: dict[str, Any], ensemble: int) -> list[Any]:
    from examol_core.plugins import make_model

    try:
        return [make_model(scorer_name, model_name, **options) for _ in range(ensemble)]
    except TypeError as exc:
        raise TypeError(f'model {scorer_name}/{model_name} does not accept these options {options}: {exc}') from None


def train_model_file(records: str | os.PathLike, recipe: PropertyRecipe | str, output: str | os.PathLike, *,
                     scorer_name: str, model_name: str, lower: Sequence[PropertyRecipe | str] = (),
                     model_options: dict[str, Any] | None = None, scorer_options: dict[str, Any] | None = None,
                     train_options: dict[str, Any] | None = None, ensemble: int = 1, seed: int = 0,
                     progress: TrainProgress | None = None, **server_options: Any) -> TrainSummary:
    """Train a model on records, on a worker of a new task server, and save it to a model file.

    Args:
        records: JSON-lines records file.
        recipe: Property to learn (``'NAME/LEVEL'`` or a recipe).
        output: Model file to write (:func:`~examol_core.modelfile.save_model_file`).
        scorer_name: Scorer plugin; ``model_name``: its model.
        lower: Lower fidelity levels, lowest first, for multi-fidelity (delta) learning.
        model_options: For the model factory; ``scorer_options``: for the scorer;
            ``train_options``: for every ``scorer.retrain`` call.
        ensemble: Members of a bootstrap ensemble (1: a single model on every record).
        seed: Seed of the bootstrap samples.
        progress: Told each stage, with a line to show.
        server_options: For :func:`~examol_core.colmena.start_task_server` (``workers``,
            ``parsl_config``, ``redis_url``, ``local``).
    Raises:
        ValueError, TypeError, FileNotFoundError, ExamolError: bad options or data, before any task runs.
        TrainingFailed: a training task failed (nothing is written).
    """
    from examol_core.colmena.config import start_task_server
    from examol_core.colmena.methods import make_methods
    from examol_core.files import check_distinct_paths, check_output_path
    from examol_core.modelfile import save_model_file
    from examol_core.options import check_keywords
    from examol_core.plugins import get_scorer_spec, load_scorer

    if ensemble < 1:
        raise ValueError(f'--ensemble must be at least 1; got {ensemble}')
    report = progress or (lambda stage, message: None)
    model_options, scorer_options = dict(model_options or {}), dict(scorer_options or {})
    train_options = dict(train_options or {})
    top, lowers = _recipe(recipe), [_recipe(r) for r in lower]
    # Everything that can be checked is checked here, before a task server starts
    check_distinct_paths({'the records file (--records)': records}, {'--output': output})
    check_output_path(output)
    check_keywords(get_scorer_spec(scorer_name).load_class(), scorer_options, 'scorer option')
    scorer = load_scorer(scorer_name, **scorer_options)
    check_keywords(scorer.retrain, train_options, 'training option', reserved=_RETRAIN_ARGUMENTS)
    check_keywords(get_scorer_spec(scorer_name).load_model_factory(model_name), model_options,
                   f'option of model {scorer_name}/{model_name}')
    models = _make_models(scorer_name, model_name, model_options, ensemble)
    training = load_training_set(records, top, lowers)
    check_training_size(scorer, models[0], training)
    report('loaded', training.describe())
    methods = make_methods(scorer, scorer_name, retrain_options=train_options)
    report('starting', f'Training {ensemble} x {scorer_name}/{model_name} on a worker (starting the task server)...')
    with start_task_server(methods, **server_options) as server:
        client = ScorerClient(server.queues, scorer, methods)
        report('training', f'Training {ensemble} x {scorer_name}/{model_name} on a worker...')
        trained, job = train_models(client, models if ensemble > 1 else models[0], training, seed=seed,
                                    check_alive=server.check_alive)
    manifest = save_model_file(
        output, trained, scorer_name=scorer_name, scorer_options=scorer_options, scorer=scorer,
        model_name=model_name, model_options=model_options, recipe=top, lower_recipes=lowers,
        bootstrap=job.bootstrap,
        training={'records_file': training.source, 'records': len(training.records), 'records_total': training.total,
                  'seed': seed, 'options': train_options})
    members = f'{ensemble} members, ' if ensemble > 1 else ''
    report('saved', f'Saved {scorer_name}/{model_name} ({members}{top.spec}) to {output}')
    return TrainSummary(Path(output), manifest, training)
