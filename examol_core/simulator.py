"""The simulator protocol: run the computations that recipes ask for.

A :class:`Simulator` turns a :class:`~examol_core.recipes.SimulationRequest` into a
:class:`SimulationResult`. ``simulate`` may run on a remote worker; its arguments and results
pickle. :func:`apply_result` folds a result into a record on the steering side.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

from examol_core.recipes import SimulationRequest
from examol_core.records import Conformer, EnergyEvaluation, MoleculeRecord, xyz_hash


@dataclass(frozen=True)
class SimulationStep:
    """One geometry along an optimisation and its energy (eV)."""

    xyz: str = field(repr=False)
    energy: float


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of one simulation.

    ``success`` is False when the calculation failed; ``failure`` then names the molecule and
    the step, and the result must not be applied to a record.
    """

    request: SimulationRequest
    success: bool
    xyz: str | None = field(default=None, repr=False)
    energy: float | None = None
    steps: tuple[SimulationStep, ...] = field(default=(), repr=False)
    failure: str | None = None
    runtime: float = 0.


class Simulator(abc.ABC):
    """Computes energies and relaxed geometries for simulation requests."""

    @property
    @abc.abstractmethod
    def config_names(self) -> tuple[str, ...]:
        """Names of the computational methods this simulator offers (e.g. ``gfn2``)."""

    @abc.abstractmethod
    def simulate(self, request: SimulationRequest) -> SimulationResult:
        """Run one request (may run on a remote worker). Failures are returned, not raised."""


def apply_result(record: MoleculeRecord, result: SimulationResult) -> bool:
    """Fold a successful result into a record: the final geometry and its energy.

    Relaxations add a conformer marked ``relaxation`` with the method and charge; single points
    add an energy to the conformer whose geometry was used. Failed results change nothing.

    A relaxation that ends on a geometry already relaxed for *another* method or charge (an
    optimiser that was converged at its first step) gets a conformer of its own, so that the
    earlier relaxation is not lost; single-point energies go to every conformer with that geometry.

    Returns:
        Whether the record changed.
    """
    if not result.success or result.xyz is None or result.energy is None:
        return False
    req = result.request
    energy = EnergyEvaluation(energy=result.energy, config_name=req.config_name, charge=req.charge, solvent=req.solvent)
    key = xyz_hash(result.xyz)
    matches = [conf for conf in record.conformers if conf.xyz_hash == key]
    if not req.optimize and matches:
        changed = False
        for conf in matches:
            changed = conf.add_energy(energy.model_copy()) or changed
        return changed
    if req.optimize:
        target = (req.config_name, req.charge)
        for conf in matches:
            if conf.source == 'relaxation' and (conf.config_name, conf.charge) == target:
                return conf.add_energy(energy)
        for conf in matches:
            if conf.source != 'relaxation':
                # The same geometry is now known to be a minimum for this method and charge
                conf.source, conf.config_name, conf.charge = 'relaxation', req.config_name, req.charge
                conf.add_energy(energy)
                return True
    record.conformers.append(Conformer(
        xyz=result.xyz, source='relaxation' if req.optimize else 'other',
        config_name=req.config_name if req.optimize else None, charge=req.charge, energies=[energy]))
    return True
