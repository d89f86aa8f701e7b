"""The data set and its split for one campaign: candidates, seed set, held-out molecules (steering side)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from examol_core.datasets import REDOX_DATASET
from examol_core.records import MoleculeRecord, read_records

from examol_demo.settings import CHEAP, EXPENSIVE, LEVELS, TOP, DemoError, DemoSettings

__all__ = ['DemoData', 'load_dataset', 'hide_expensive_levels', 'prepare_data']


def load_dataset(path: str | os.PathLike | None = None) -> list[MoleculeRecord]:
    """The records of the data set shipped with the core (see its card, ``examol_core/data/README.md``), or of ``path``."""
    return list(read_records(REDOX_DATASET if path is None else path))


def hide_expensive_levels(record: MoleculeRecord) -> MoleculeRecord:
    """A copy of a record that knows only the cheap level: GFN2 geometries, energies and properties removed.

    What remains (the MMFF94 start and the GFN1 minimum with its energies) is exactly what a
    campaign that has run only the cheap level would hold, so the xTB run that reveals the
    expensive levels starts from the same geometry as the one that made the data set.
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
    """The split of the data set for one campaign.

    Attributes:
        pool: Candidates as the campaign starts: the seed molecules as stored, the others with
            only the cheap level (see :func:`hide_expensive_levels`).
        seed: Positions in ``pool`` of the seed molecules.
        test: Held-out molecules, with only the cheap level.
        truth: InChIKey → ``{level: stored value}`` for every pool and test molecule: to check
            simulations and to score the models, never shown to a strategy.
    """

    pool: list[MoleculeRecord]
    seed: list[int]
    test: list[MoleculeRecord]
    truth: dict[str, dict[str, float]]

    def true_top(self, records: Sequence[MoleculeRecord]) -> np.ndarray:
        """Stored top-level values of ``records`` (hidden from the strategies)."""
        return np.array([self.truth[r.key][TOP.level] for r in records])


def prepare_data(records: Sequence[MoleculeRecord], settings: DemoSettings) -> DemoData:
    """Split the data set into held-out molecules and candidates, choose the seed set, hide the rest.

    Only records known at every level take part (996 of the 999).
    """
    complete = [r for r in records if all(level.lookup(r) is not None for level in LEVELS)]
    needed = settings.test_size + (settings.pool_size or settings.seed_size + settings.batch_size)
    if len(complete) < needed:
        raise DemoError(f'The data set has {len(complete)} molecules known at every level; the settings need {needed} '
                        f'(test-size {settings.test_size} + pool-size {settings.pool_size})')
    rng = np.random.default_rng(settings.random_seed)
    order = rng.permutation(len(complete))
    test = [complete[i] for i in order[:settings.test_size]]
    rest = order[settings.test_size:]
    if settings.pool_size is not None:
        rest = rest[:settings.pool_size]
    pool_source = [complete[i] for i in rest]
    seed = sorted(int(i) for i in rng.choice(len(pool_source), settings.seed_size, replace=False))
    seed_set = set(seed)
    truth = {r.key: {level.level: float(level.lookup(r)) for level in LEVELS} for r in [*test, *pool_source]}
    pool = [r.model_copy(deep=True) if i in seed_set else hide_expensive_levels(r) for i, r in enumerate(pool_source)]
    return DemoData(pool=pool, seed=seed, test=[hide_expensive_levels(r) for r in test], truth=truth)
