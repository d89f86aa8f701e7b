"""Running the campaign: plugins, data, a task server and the thinker, then what happened (steering side).

Each round of a learning strategy trains a bootstrap ensemble on workers (one task per member),
scores the candidates and the held-out molecules on workers (in chunks), picks a batch by an
upper confidence bound (or expected improvement) and simulates it on workers (one task per
molecule: the whole recipe loop). The random strategy only simulates. See
:mod:`examol_demo.thinker` for the loops themselves.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
from examol_core.errors import ExamolError
from examol_core.records import MoleculeRecord
from examol_core.scorer import MultiFidelityScorer

from examol_demo.data import DemoData, load_dataset, prepare_data
from examol_demo.progress import ProgressDisplay
from examol_demo.results import CampaignResult
from examol_demo.settings import CHEAP, TOP, DemoError, DemoSettings, check_plugins
from examol_demo.simulation import Simulations, make_simulation_method
from examol_demo.thinker import TOPICS, CampaignThinker, SerialSends

__all__ = ['run_campaign']


def run_campaign(settings: DemoSettings, console: Any = None, records: Sequence[MoleculeRecord] | None = None
                 ) -> CampaignResult:
    """Run the three strategies on a task server and return what happened.

    Args:
        settings: Campaign options.
        console: A ``rich.console.Console`` to show progress on; ``None`` for none.
        records: The data set (default: the shipped one).
    Raises:
        DemoError: a missing plugin, bad settings, or tasks that failed beyond their retries.
        TaskServerDied: the task server exited during the campaign.
    """
    from examol_core.colmena import ScorerClient, make_methods, start_task_server
    from examol_core.plugins import load_scorer, load_simulator, make_model

    t_start = time.perf_counter()
    settings.check()
    model_name = check_plugins(settings)
    scorer = load_scorer(settings.scorer, **settings.scorer_options)
    if not isinstance(scorer, MultiFidelityScorer):
        raise DemoError(f'Scorer {settings.scorer!r} does not learn from lower fidelities; the demo needs a '
                        'multi-fidelity scorer')

    def make_models() -> list[Any]:
        return [make_model(settings.scorer, model_name, **settings.model_options)
                for _ in range(settings.ensemble_size)]

    try:
        make_models()
    except TypeError as exc:
        raise DemoError(f'Model {settings.scorer}/{model_name} does not accept the options '
                        f'{settings.model_options}: {exc}') from None
    data = prepare_data(records if records is not None else load_dataset(), settings)
    t_data = time.perf_counter() - t_start

    methods = make_methods(scorer, settings.scorer)
    simulate = make_simulation_method(load_simulator(settings.simulator), settings.simulator)
    # One OpenMP thread per worker: xTB timings are erratic when threads compete for the cores
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    display = ProgressDisplay(console, settings) if console is not None else None
    server_options: dict[str, Any] = {'workers': settings.workers, 'local': settings.local, 'topics': TOPICS}
    if settings.parsl_config is not None:
        server_options['parsl_config'] = settings.parsl_config
    status = display.status if display is not None else (lambda text: None)
    with display if display is not None else contextlib.nullcontext():
        status('starting the task server')
        t_server = time.perf_counter()
        with start_task_server([*methods, simulate], **server_options) as server:
            queues = SerialSends(server.queues)
            client = ScorerClient(queues, scorer, methods, retrain_topic='train', score_topic='score',
                                  routed=True)  # the thinker's result processors route results to the jobs
            simulations = Simulations(queues, simulate.__name__, data.truth, retries=settings.retries)
            thinker = CampaignThinker(queues, client, simulations, data, settings, make_models,
                                      progress=display.event if display is not None else None)
            status('running (the first tasks wait for the workers to start)')
            t_campaign = time.perf_counter()
            thinker.start()
            try:
                while thinker.is_alive():
                    thinker.join(timeout=1)
                    server.check_alive()
            except BaseException:
                thinker.done.set()
                raise
            t_end = time.perf_counter()
            status('stopping the task server')
    if thinker.error is not None:
        if isinstance(thinker.error, ExamolError):
            raise thinker.error
        raise DemoError(f'The campaign failed: {type(thinker.error).__name__}: {thinker.error}') from thinker.error
    first_task = min((t.started for t in thinker.tasks), default=0.)
    return CampaignResult(
        settings=settings, strategies=[s.result for s in thinker.strategies],
        test_smiles=[r.identifier.smiles for r in data.test],
        test_true=[float(x) for x in data.true_top(data.test)],
        test_cheap=[float(CHEAP.lookup(r)) for r in data.test],
        pool_top=[float(x) for x in data.true_top(data.pool)],
        pool_smiles=[r.identifier.smiles for r in data.pool],
        seed_smiles=[data.pool[i].identifier.smiles for i in data.seed],
        tasks=thinker.tasks, checks=simulations.checks, simulation_failures=dict(simulations.failures),
        timings={'data': t_data, 'server_start': t_campaign - t_server,
                 'first_task_started': first_task + (t_campaign - t_server),
                 'campaign': t_end - t_campaign, 'total': time.perf_counter() - t_start},
        baseline_offset=_baseline_offset(data), versions=_versions(settings))


def _baseline_offset(data: DemoData) -> float:
    """Mean of top level − cheap level over the seed set: the simplest multi-fidelity estimate's offset."""
    seed = [data.pool[i].key for i in data.seed]
    return float(np.mean([data.truth[k][TOP.level] - data.truth[k][CHEAP.level] for k in seed]))


def _versions(settings: DemoSettings) -> dict[str, str]:
    from examol_core.plugins import available_scorers, available_simulators

    out = {'examol-core': metadata.version('examol-core'), 'examol-demo': metadata.version('examol-demo')}
    for spec in (available_scorers()[settings.scorer], available_simulators()[settings.simulator]):
        out[spec.distribution] = spec.version
    for name in ('colmena', 'parsl', 'rdkit', 'tblite'):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out
