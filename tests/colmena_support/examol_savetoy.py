"""A saveable (and, on request, failing) version of the toy scorer for the Colmena and CLI tests.

Importable by Parsl workers when ``tests/toy_plugin`` and this folder are on ``PYTHONPATH``;
the tests register it by hand as the scorer ``savetoy``.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
from examol_toy import LookupModel, LookupScorer

from examol_core.plugins import ScorerSpec, hookimpl


class SaveableLookupScorer(LookupScorer):
    """The toy scorer with JSON persistence, and hooks to fail on chosen molecules.

    Args:
        fail_on: Raise ``ValueError`` when asked to score this (canonical) SMILES.
        kill_on: Kill the worker process (``os._exit``) when asked to score this SMILES.
        flag: If given, fail or kill only while this file exists.
        once: Remove ``flag`` when failing, so that the next attempt succeeds.
        extra_score: Return one score too many (a broken plugin).
        delay: Seconds to sleep in each ``score`` call (to keep tasks in flight).
    """

    def __init__(self, fail_on: str | None = None, kill_on: str | None = None, flag: str | None = None,
                 once: bool = False, extra_score: bool = False, delay: float = 0.):
        self.fail_on = fail_on
        self.kill_on = kill_on
        self.flag = flag
        self.once = once
        self.extra_score = extra_score
        self.delay = delay

    def _armed(self, marker: str | None, inputs) -> bool:
        if marker is None or marker not in inputs:
            return False
        if self.flag is None:
            return True
        if not os.path.exists(self.flag):
            return False
        if self.once:
            os.remove(self.flag)
        return True

    def score(self, model_msg, inputs, lower_fidelities=None):
        if self.delay:
            time.sleep(self.delay)
        if self._armed(self.fail_on, inputs):
            raise ValueError(f'refusing to score {self.fail_on}')
        if self._armed(self.kill_on, inputs):
            os._exit(13)
        scores = super().score(model_msg, inputs, lower_fidelities=lower_fidelities)
        return np.append(scores, 0.) if self.extra_score else scores

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
