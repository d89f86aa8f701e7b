"""The campaign's options, its property levels, the plugins it needs and its split of the data set.

Objective: find the molecules with the highest ``oxidation_potential`` at the top level,
``gfn2-adiabatic``. The cheap level ``gfn1-vertical`` is known for every molecule (the
multi-fidelity premise); the expensive levels are revealed by xTB simulations.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from examol_core.datasets import REDOX_DATASET, REDOX_LEVELS
from examol_core.errors import ExamolError
from examol_core.records import MoleculeRecord, read_records
from pydantic import BaseModel, ConfigDict, Field

__all__ = ['DemoError', 'DemoSettings', 'DemoData', 'TOP', 'LOWER', 'CHEAP', 'EXPENSIVE', 'LEVELS',
           'check_plugins', 'load_dataset', 'hide_expensive_levels', 'prepare_data']

LEVELS = REDOX_LEVELS  # lowest fidelity first: gfn1-vertical, gfn2-vertical, gfn2-adiabatic
TOP, LOWER = LEVELS[-1], LEVELS[:-1]  # the objective (eV, to maximise); the levels delta learning starts from
CHEAP, EXPENSIVE = LEVELS[0], LEVELS[1:]  # known for every molecule; revealed by a simulation (GFN2 gives both)
DEFAULT_MODELS = {'rdkit': 'knn'}  # for scorers offering several models (otherwise their only one)
_PROVIDERS = {'rdkit': 'examol-rdkit (from a source checkout: pip install ./plugins/rdkit_scorer)',
              'xtb': 'examol-xtb (from a source checkout: pip install ./plugins/xtb_simulator)'}


class DemoError(ExamolError, RuntimeError):
    """The demo cannot run (missing plugin, bad settings) or a task failed beyond its retries."""


class DemoSettings(BaseModel):
    """Options of the demo campaign; ``examol demo --help`` describes each.

    ``model=None`` means the scorer's default (:data:`DEFAULT_MODELS`, or its only model);
    ``local`` runs Colmena's ``LocalTaskServer`` (threads, no start-up cost) instead of Parsl;
    ``retries`` is how often a failed task is resubmitted before the campaign gives up.
    """

    model_config = ConfigDict(protected_namespaces=())  # fields model and model_options

    rounds: int = 10
    batch_size: int = 8
    seed_size: int = 20
    test_size: int = 150
    pool_size: int | None = None
    ensemble_size: int = 8
    chunk_size: int = 250
    acquisition: str = 'ucb'
    beta: float = 1.0
    scorer: str = 'rdkit'
    model: str | None = None
    model_options: dict[str, Any] = {}
    scorer_options: dict[str, Any] = {}
    train_options: dict[str, Any] = {}
    simulator: str = 'xtb'
    workers: int = 2
    random_seed: int = 0
    local: bool = False
    parsl_config: Any = Field(default=None, exclude=True)
    retries: int = 1

    QUICK: ClassVar[dict[str, int]] = {'rounds': 2, 'batch_size': 4, 'seed_size': 10, 'test_size': 30,
                                       'pool_size': 100, 'ensemble_size': 3, 'chunk_size': 50}
    """The ``--quick`` preset: well under a minute after the task server has started."""

    def check(self) -> None:
        """Raise :class:`DemoError` naming every option out of range."""
        problems = [f'{name.replace("_", "-")} must be at least {low} (got {getattr(self, name)})'
                    for name, low in (('rounds', 1), ('batch_size', 1), ('seed_size', 2), ('test_size', 1),
                                      ('ensemble_size', 2), ('chunk_size', 1), ('workers', 1), ('retries', 0))
                    if getattr(self, name) < low]
        if self.acquisition not in ('ucb', 'ei'):
            problems.append(f'acquisition must be "ucb" or "ei" (got {self.acquisition!r})')
        if self.pool_size is not None and self.pool_size < self.seed_size + self.batch_size:
            problems.append(f'pool-size ({self.pool_size}) must hold the seed set and one batch '
                            f'({self.seed_size} + {self.batch_size})')
        if problems:
            raise DemoError('Invalid demo settings: ' + '; '.join(problems))


def check_plugins(settings: DemoSettings) -> str:
    """Fail early, naming the package to install, if the scorer, its model or the simulator is missing.

    Returns:
        The model name to use (``settings.model``, or the scorer's default model).
    """
    from examol_core.plugins import available_scorers, available_simulators, load_errors_note

    def missing(kind: str, name: str, known: dict[str, Any]) -> DemoError:
        provider = _PROVIDERS.get(name, f'a package providing the {kind} {name!r}')
        return DemoError(f'The demo needs the {kind} plugin {name!r}, which is not installed (installed {kind}s: '
                         f'{", ".join(sorted(known)) or "none"}). Install {provider}.' + load_errors_note())

    scorers, simulators = available_scorers(), available_simulators()
    if settings.scorer not in scorers:
        raise missing('scorer', settings.scorer, scorers)
    models = sorted(scorers[settings.scorer].models)
    model = settings.model or DEFAULT_MODELS.get(settings.scorer) or (models[0] if len(models) == 1 else None)
    if model is None:
        raise DemoError(f'Scorer {settings.scorer!r} offers several models ({", ".join(models)}): choose one with '
                        '--model')
    if model not in models:
        raise DemoError(f'Scorer {settings.scorer!r} has no model {model!r}; it provides: {", ".join(models)}')
    if settings.simulator not in simulators:
        raise missing('simulator', settings.simulator, simulators)
    offered, needed = simulators[settings.simulator].config_names, {r.config_name for r in LEVELS}
    if offered and not needed <= set(offered):
        raise DemoError(f'Simulator {settings.simulator!r} offers {", ".join(offered)}; the demo needs '
                        f'{", ".join(sorted(needed))}')
    return model


# The data set and its split ----------------------------------------------------------------------

def load_dataset(path: str | os.PathLike | None = None) -> list[MoleculeRecord]:
    """The records of the data set shipped with the core (see ``examol_core/data/README.md``), or of ``path``."""
    return list(read_records(REDOX_DATASET if path is None else path))


def hide_expensive_levels(record: MoleculeRecord) -> MoleculeRecord:
    """A copy of a record that knows only the cheap level: GFN2 geometries, energies and properties removed.

    What remains (the MMFF94 start and the GFN1 minimum) is what a campaign that ran only the cheap
    level would hold, so the xTB run that reveals the expensive levels starts from the same
    geometry as the one that made the data set.
    """
    hidden = {r.config_name for r in EXPENSIVE} - {CHEAP.config_name}
    copy = record.model_copy(deep=True)
    copy.conformers = [c for c in copy.conformers if c.config_name not in hidden]
    for conformer in copy.conformers:
        conformer.energies = [e for e in conformer.energies if e.config_name not in hidden]
    cheap = CHEAP.lookup(record)
    copy.properties = {CHEAP.name: {CHEAP.level: cheap}} if cheap is not None else {}
    return copy


@dataclass
class DemoData:
    """The split: candidates (the seed molecules as stored, the others hidden), positions of the seed
    molecules in ``pool``, held-out molecules (hidden), and ``truth`` (InChIKey → level → stored value),
    to check simulations and score models, never shown to a strategy."""

    pool: list[MoleculeRecord]
    seed: list[int]
    test: list[MoleculeRecord]
    truth: dict[str, dict[str, float]]

    def true_top(self, records: Sequence[MoleculeRecord]) -> np.ndarray:
        """Stored top-level values of ``records``."""
        return np.array([self.truth[r.key][TOP.level] for r in records])


def prepare_data(records: Sequence[MoleculeRecord], settings: DemoSettings) -> DemoData:
    """Split the records known at every level (996 of 999) into held-out molecules and candidates; hide the rest."""
    complete = [r for r in records if all(level.lookup(r) is not None for level in LEVELS)]
    needed = settings.test_size + (settings.pool_size or settings.seed_size + settings.batch_size)
    if len(complete) < needed:
        raise DemoError(f'The data set has {len(complete)} molecules known at every level; the settings need {needed} '
                        f'(test-size {settings.test_size} + pool-size {settings.pool_size})')
    rng = np.random.default_rng(settings.random_seed)
    order = rng.permutation(len(complete))
    test = [complete[i] for i in order[:settings.test_size]]
    pool = [complete[i] for i in order[settings.test_size:][:settings.pool_size]]
    seed = sorted(int(i) for i in rng.choice(len(pool), settings.seed_size, replace=False))
    truth = {r.key: {level.level: float(level.lookup(r)) for level in LEVELS} for r in [*test, *pool]}
    pool = [r.model_copy(deep=True) if i in seed else hide_expensive_levels(r) for i, r in enumerate(pool)]
    return DemoData(pool=pool, seed=seed, test=[hide_expensive_levels(r) for r in test], truth=truth)
