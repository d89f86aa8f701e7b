"""A minimal third-party scorer: remembers each molecule's label, predicts the mean otherwise.

It is the example of the README's "Writing a plugin" section and memorises exactly, so the
conformance kit can check the multi-fidelity arithmetic against known values.
"""
from __future__ import annotations

import numpy as np

from examol_core.multifi import check_lower_fidelities, check_training_data, delta_targets, predict_from_deltas
from examol_core.plugins import ScorerSpec, hookimpl
from examol_core.scorer import MultiFidelityScorer


class LookupModel:
    """One table per level: SMILES → value, plus the mean for unseen molecules."""

    def __init__(self) -> None:
        self.tables: list[tuple[dict[str, float], float]] = []


class LookupScorer(MultiFidelityScorer):
    def transform_inputs(self, records):
        return [r.identifier.smiles for r in records]

    def prepare_message(self, model, training=False):
        return None if training else model.tables

    def retrain(self, model_msg, inputs, outputs, lower_fidelities=None):
        outputs, lower = check_training_data(len(inputs), outputs, lower_fidelities)
        levels = [(np.arange(len(inputs)), outputs)] if lower is None else delta_targets(outputs, lower)
        return [({inputs[i]: float(v) for i, v in zip(rows, values)}, float(np.mean(values))) for rows, values in levels]

    def update(self, model, update_msg):
        model.tables = update_msg
        return model

    def score(self, model_msg, inputs, lower_fidelities=None):
        lower = check_lower_fidelities(len(inputs), lower_fidelities)
        deltas = np.array([[table.get(s, mean) for table, mean in model_msg] for s in inputs]).reshape(len(inputs), -1)
        if lower is None:
            return deltas.sum(axis=1)
        return predict_from_deltas(deltas, lower)


@hookimpl
def examol_scorers():
    return [ScorerSpec(name='toy', scorer=LookupScorer, models={'lookup': LookupModel},
                       description='Remembers labels (example plugin)')]
