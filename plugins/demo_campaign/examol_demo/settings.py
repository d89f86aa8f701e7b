"""The campaign's options, the property levels it works with, and the plugins it needs (steering side).

Objective: find the molecules with the highest ``oxidation_potential`` at the top level,
``gfn2-adiabatic``. The cheap level ``gfn1-vertical`` is known for every molecule (the
multi-fidelity premise); the expensive levels are revealed by xTB simulations.
"""
from __future__ import annotations

from typing import Any, ClassVar

from examol_core.datasets import REDOX_LEVELS
from examol_core.errors import ExamolError
from pydantic import BaseModel, ConfigDict, Field

__all__ = ['DemoError', 'DemoSettings', 'TOP', 'LOWER', 'CHEAP', 'EXPENSIVE', 'LEVELS', 'acquisition_label',
           'check_plugins']

LEVELS = REDOX_LEVELS
"""The data set's levels, lowest fidelity first: ``gfn1-vertical``, ``gfn2-vertical``, ``gfn2-adiabatic``."""
TOP = LEVELS[-1]
"""The objective: ``oxidation_potential/gfn2-adiabatic`` (eV), to maximise."""
LOWER = LEVELS[:-1]
"""Lower levels of fidelity, lowest first, for multi-fidelity (delta) learning."""
CHEAP = LEVELS[0]
"""The level known for every molecule."""
EXPENSIVE = LEVELS[1:]
"""The levels revealed by simulation (a GFN2 run gives both), in the order they are computed."""

DEFAULT_MODELS = {'rdkit': 'knn'}
"""Model used when ``--model`` is not given, for scorers offering several (otherwise their only one)."""

# Packages that provide the plugins the demo uses by default: only to say what to install
_PROVIDERS = {'rdkit': 'examol-rdkit (from a source checkout: pip install ./plugins/rdkit_scorer)',
              'xtb': 'examol-xtb (from a source checkout: pip install ./plugins/xtb_simulator)'}


class DemoError(ExamolError, RuntimeError):
    """The demo cannot run (missing plugin, bad settings) or a task failed beyond its retries."""


class DemoSettings(BaseModel):
    """Options of the demo campaign (the ``examol demo`` options).

    Attributes:
        rounds: Batches each strategy acquires.
        batch_size: Molecules simulated per batch.
        seed_size: Molecules whose expensive levels are known at the start (the same for every strategy).
        test_size: Held-out molecules for the parity plot and the MAE (never acquired).
        pool_size: Candidates (seed included); ``None`` for every molecule not held out.
        ensemble_size: Members of each bootstrap ensemble.
        chunk_size: Molecules per inference task.
        acquisition: ``ucb`` (mean + beta × std) or ``ei`` (expected improvement).
        beta: Weight of the standard deviation in the upper confidence bound.
        scorer: Any installed multi-fidelity scorer, by its name in the plugin registry.
        model: Model of that scorer; ``None`` for its default (:data:`DEFAULT_MODELS`, or its only model).
        model_options, scorer_options, train_options: Options of the model factory, of the
            scorer's constructor and of ``scorer.retrain`` (training on workers).
        simulator: Simulator name in the plugin registry (it must offer ``gfn1`` and ``gfn2``).
        workers: Worker processes (Parsl) or threads (``local``) of the task server.
        random_seed: Seed of the split, the seed set, the random strategy and the bootstrap samples.
        local: Colmena's ``LocalTaskServer`` (worker threads in one child process) instead of Parsl:
            no start-up cost, for tests and quick runs.
        parsl_config: A ``parsl.config.Config`` (or a file defining ``config``) instead of local workers.
        retries: Times a failed task is resubmitted before the campaign gives up.
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

    QUICK: ClassVar[dict[str, int]] = {'rounds': 2, 'batch_size': 4, 'seed_size': 10, 'test_size': 30, 'pool_size': 100, 'ensemble_size': 3,
             'chunk_size': 50}
    """The ``--quick`` preset: a tiny run (well under a minute after the task server has started)."""

    def check(self) -> None:
        """Raise :class:`DemoError` naming every option out of range."""
        problems = []
        for name, low in (('rounds', 1), ('batch_size', 1), ('seed_size', 2), ('test_size', 1),
                          ('ensemble_size', 2), ('chunk_size', 1), ('workers', 1), ('retries', 0)):
            if getattr(self, name) < low:
                problems.append(f'{name.replace("_", "-")} must be at least {low} (got {getattr(self, name)})')
        if self.acquisition not in ('ucb', 'ei'):
            problems.append(f'acquisition must be "ucb" or "ei" (got {self.acquisition!r})')
        if self.pool_size is not None and self.pool_size < self.seed_size + self.batch_size:
            problems.append(f'pool-size ({self.pool_size}) must hold the seed set and one batch '
                            f'({self.seed_size} + {self.batch_size})')
        if problems:
            raise DemoError('Invalid demo settings: ' + '; '.join(problems))


def acquisition_label(settings: DemoSettings, detailed: bool = False) -> str:
    """``UCB`` or ``EI``; with ``detailed``, the formula too."""
    if settings.acquisition == 'ucb':
        return f'UCB (mean + {settings.beta:g} × std)' if detailed else 'UCB'
    return 'EI (expected improvement over the best known)' if detailed else 'EI'


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

    scorers = available_scorers()
    if settings.scorer not in scorers:
        raise missing('scorer', settings.scorer, scorers)
    models = sorted(scorers[settings.scorer].models)
    model = settings.model or DEFAULT_MODELS.get(settings.scorer) or (models[0] if len(models) == 1 else None)
    if model is None:
        raise DemoError(f'Scorer {settings.scorer!r} offers several models ({", ".join(models)}): choose one with '
                        '--model')
    if model not in models:
        raise DemoError(f'Scorer {settings.scorer!r} has no model {model!r}; it provides: {", ".join(models)}')
    simulators = available_simulators()
    if settings.simulator not in simulators:
        raise missing('simulator', settings.simulator, simulators)
    offered = simulators[settings.simulator].config_names
    needed = {r.config_name for r in LEVELS}
    if offered and not needed <= set(offered):
        raise DemoError(f'Simulator {settings.simulator!r} offers {", ".join(offered)}; the demo needs '
                        f'{", ".join(sorted(needed))}')
    return model
