"""The data shipped with the core: the redoxmers oxidation-potential data set and its search space.

``examol_core/data/`` holds 999 records with ``oxidation_potential`` at the three levels of
:data:`REDOX_LEVELS` and the 1,000 SMILES they were computed for (see its README, the data
card). The script that rebuilds it, the demo and the benchmarks take the levels from here.
"""
from __future__ import annotations

from pathlib import Path

from examol_core.recipes import RedoxEnergy

__all__ = ['DATA_DIR', 'REDOX_LEVELS', 'REDOX_DATASET', 'SEARCH_SPACE']

DATA_DIR = Path(__file__).parent / 'data'
"""Folder of the shipped data."""

REDOX_LEVELS: tuple[RedoxEnergy, ...] = (RedoxEnergy(1, 'gfn1', vertical=True), RedoxEnergy(1, 'gfn2', vertical=True),
                                         RedoxEnergy(1, 'gfn2'))
"""The oxidation-potential levels of the data set, lowest fidelity first (the last one is the most accurate)."""

REDOX_DATASET = DATA_DIR / 'redoxmers-oxidation.jsonl.gz'
"""The records, JSON lines (:func:`~examol_core.records.read_records`)."""

SEARCH_SPACE = DATA_DIR / 'search-space.smi'
"""The SMILES of the data set, one per line."""
