"""Running the campaign: plugins, data, a task server and the thinker, then what happened.

See :mod:`examol_demo.thinker` for the strategies' loops.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from examol_core.errors import ExamolError
from examol_core.records import MoleculeRecord
from examol_core.scorer import MultiFidelityScorer

from examol_demo.progress import ProgressDisplay
from examol_demo.results import CampaignResult
from examol_demo.settings import CHEAP, TOP, DemoError, DemoSettings, check_plugins, load_dataset, prepare_data
from examol_demo.simulation import Simulations, make_simulation_method
from examol_demo.thinker import TOPICS, CampaignThinker

__all__ = ['run_campaign', 'run_demo']


def run_demo(settings: DemoSettings, output_dir: str | Path, console: Any = None) -> tuple[CampaignResult, dict]:
    """Run the campaign and write its report into ``output_dir``; the result and the paths written."""
    from examol_demo.report import check_plotting, write_report

    check_plotting()  # before the campaign rather than after it
    result = run_campaign(settings, console=console)
    return result, write_report(result, output_dir)


def run_campaign(settings: DemoSettings, console: Any = None, records: Sequence[MoleculeRecord] | None = None
                 ) -> CampaignResult:
    """Run the three strategies on a task server and return what happened.

    Args:
        settings: Campaign options (the result holds a copy with the model name resolved).
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
    settings = settings.model_copy(update={'model': check_plugins(settings)})
    scorer = load_scorer(settings.scorer, **settings.scorer_options)
    if not isinstance(scorer, MultiFidelityScorer):
        raise DemoError(f'Scorer {settings.scorer!r} does not learn from lower fidelities; the demo needs a '
                        'multi-fidelity scorer')

    def make_models() -> list[Any]:
        return [make_model(settings.scorer, settings.model, **settings.model_options)
                for _ in range(settings.ensemble_size)]

    try:
        make_models()
    except TypeError as exc:
        raise DemoError(f'Model {settings.scorer}/{settings.model} does not accept the options '
                        f'{settings.model_options}: {exc}') from None
    data = prepare_data(records if records is not None else load_dataset(), settings)
    t_data = time.perf_counter() - t_start

    methods = make_methods(scorer, settings.scorer)
    simulate = make_simulation_method(load_simulator(settings.simulator), settings.simulator)
    os.environ.setdefault('OMP_NUM_THREADS', '1')  # xTB timings are erratic when threads compete for the cores
    options: dict[str, Any] = {'workers': settings.workers, 'local': settings.local, 'topics': TOPICS}
    if settings.parsl_config is not None:
        options['parsl_config'] = settings.parsl_config
    with ProgressDisplay(console, settings.rounds) as display:
        display.status('starting the task server')
        t_server = time.perf_counter()
        with start_task_server([*methods, simulate], **options) as server:
            client = ScorerClient(server.queues, scorer, methods, retrain_topic='train', score_topic='score',
                                  routed=True)  # the thinker's result processors route results to the jobs
            simulations = Simulations(client, simulate.__name__, data.truth, retries=settings.retries)
            thinker = CampaignThinker(server.queues, client, simulations, data, settings, make_models,
                                      progress=display.event)
            display.status('running (the first tasks wait for the workers to start)')
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
            display.status('stopping the task server')
    if isinstance(thinker.error, ExamolError):
        raise thinker.error
    if thinker.error is not None:
        raise DemoError(f'The campaign failed: {type(thinker.error).__name__}: {thinker.error}') from thinker.error
    seed = [data.pool[i] for i in data.seed]
    return CampaignResult(
        settings=settings, strategies=[s.result for s in thinker.strategies],
        test_smiles=[r.identifier.smiles for r in data.test], test_true=data.true_top(data.test).tolist(),
        test_cheap=[float(CHEAP.lookup(r)) for r in data.test], pool_top=data.true_top(data.pool).tolist(),
        pool_smiles=[r.identifier.smiles for r in data.pool], seed_smiles=[r.identifier.smiles for r in seed],
        tasks=thinker.tasks, checks=simulations.checks, simulation_failures=dict(simulations.failures),
        timings={'data': t_data, 'server_start': t_campaign - t_server,
                 'first_task_started': min((t.started for t in thinker.tasks), default=0.) + t_campaign - t_server,
                 'campaign': t_end - t_campaign, 'total': time.perf_counter() - t_start},
        baseline_offset=float(np.mean([data.truth[r.key][TOP.level] - data.truth[r.key][CHEAP.level] for r in seed])),
        versions=_versions(settings))


def _versions(settings: DemoSettings) -> dict[str, str]:
    from examol_core.plugins import available_scorers, available_simulators

    out = {name: metadata.version(name) for name in ('examol-core', 'examol-demo')}
    for spec in (available_scorers()[settings.scorer], available_simulators()[settings.simulator]):
        out[spec.distribution] = spec.version
    for name in ('colmena', 'parsl', 'rdkit', 'tblite'):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out
