"""A saveable (and, on request, failing) version of the toy scorer for the Colmena and CLI tests.

Importable by Parsl workers when ``tests/toy_plugin`` and this folder are on ``PYTHONPATH``;
the tests register it by hand as the scorer ``savetoy``.
"""
from __future__ import annotations

import json
import os
import time

from examol_toy import LookupModel, LookupScorer

from examol_core.plugins import ScorerSpec, hookimpl


class SaveableLookupScorer(LookupScorer):
    """The toy scorer with JSON persistence, and hooks to fail on chosen molecules.

    Args:
        fail_on: Raise ``ValueError`` when asked to score this (canonical) SMILES.
        kill_on: Kill the worker process (``os._exit``) when asked to score this SMILES, once:
            only while the file ``kill_flag`` exists, which is removed first.
        kill_flag: See ``kill_on``.
        delay: Seconds to sleep in each ``score`` call (to keep tasks in flight).
    """

    def __init__(self, fail_on: str | None = None, kill_on: str | None = None, kill_flag: str | None = None,
                 delay: float = 0.):
        self.fail_on = fail_on
        self.kill_on = kill_on
        self.kill_flag = kill_flag
        self.delay = delay

    def score(self, model_msg, inputs, lower_fidelities=None):
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in inputs:
            raise ValueError(f'refusing to score {self.fail_on}')
        if self.kill_on is not None and self.kill_on in inputs and self.kill_flag and os.path.exists(self.kill_flag):
            os.remove(self.kill_flag)
            os._exit(13)
        return super().score(model_msg, inputs, lower_fidelities=lower_fidelities)

    def save_model(self, model, directory):
        (directory / 'tables.json').write_text(json.dumps([[table, mean] for table, mean in model.tables]))

    def load_model(self, directory):
        model = LookupModel()
        model.tables = [(dict(t), float(m)) for t, m in json.loads((directory / 'tables.json').read_text())]
        return model


@hookimpl
def examol_scorers():
    return [ScorerSpec(name='savetoy', scorer=SaveableLookupScorer, models={'lookup': LookupModel},
                       distribution='examol-savetoy', version='1.0.0',
                       description='Toy scorer that saves models (tests only)')]
