"""Property recipes: how a property at one level of fidelity is computed from a record.

A recipe is identified by ``name`` (what property) and ``level`` (how accurately). It says which
geometries and energies it needs (:attr:`PropertyRecipe.recipe`), proposes the simulations
still missing (:meth:`PropertyRecipe.suggest_computations`) and computes the property from the
energies once they exist (:meth:`PropertyRecipe.compute_property`). Everything here runs on the
steering side; simulations run wherever a :class:`~examol_core.simulator.Simulator` runs.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

from examol_core.conformers import KCAL_PER_EV, generate_initial_xyz
from examol_core.errors import MissingDataError
from examol_core.records import MoleculeRecord


@dataclass(frozen=True)
class SimulationRequest:
    """One simulation a recipe still needs."""

    xyz: str = field(repr=False)
    optimize: bool
    config_name: str
    charge: int
    solvent: str | None = None
    smiles: str | None = None
    """The molecule the request is for, so that failures on a worker can name it."""


@dataclass(frozen=True)
class RequiredGeometry:
    """A geometry relaxed with ``config_name`` at ``charge``."""

    config_name: str
    charge: int


@dataclass(frozen=True)
class RequiredEnergy:
    """An energy to evaluate at a required geometry."""

    config_name: str
    charge: int
    solvent: str | None = None


class PropertyRecipe(abc.ABC):
    """Compute one property at one level of fidelity from a :class:`MoleculeRecord`.

    Subclasses set ``name`` and ``level`` in ``__init__`` and implement :meth:`from_name`,
    :attr:`recipe` and :meth:`compute_property`.
    """

    def __init__(self, name: str, level: str):
        self.name = name
        self.level = level

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name={self.name!r}, level={self.level!r})'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PropertyRecipe) and (self.name, self.level) == (other.name, other.level)

    def __hash__(self) -> int:
        return hash((self.name, self.level))

    @classmethod
    def from_name(cls, name: str, level: str) -> 'PropertyRecipe':
        """Rebuild a recipe from its name and level.

        Called on the base class, dispatches on ``name`` to the recipe that owns it.

        Raises:
            ValueError: if no recipe has that name, or the level cannot be parsed.
        """
        if cls is PropertyRecipe:
            for sub in (RedoxEnergy, SolvationEnergy):
                if sub.handles(name):
                    return sub.from_name(name, level)
            raise ValueError(f'No recipe computes {name!r}; known: oxidation_potential, reduction_potential, '
                             'double_oxidation_potential, double_reduction_potential, solvation_energy')
        raise NotImplementedError(f'{cls.__name__} must implement from_name')

    @classmethod
    def from_spec(cls, spec: str) -> 'PropertyRecipe':
        """Rebuild a recipe from ``"name/level"`` (the form the command line uses)."""
        name, sep, level = spec.partition('/')
        if not sep or not name or not level:
            raise ValueError(f'Recipe {spec!r} is not of the form NAME/LEVEL, e.g. oxidation_potential/gfn2-adiabatic')
        return PropertyRecipe.from_name(name, level)

    @property
    def spec(self) -> str:
        """``NAME/LEVEL``: how a recipe appears on the command line, in manifests and in results (see :meth:`from_spec`)."""
        return f'{self.name}/{self.level}'

    @property
    @abc.abstractmethod
    def recipe(self) -> dict[RequiredGeometry, list[RequiredEnergy]]:
        """The geometries this recipe needs and the energies to compute at each."""

    @abc.abstractmethod
    def compute_property(self, record: MoleculeRecord) -> float:
        """Compute the property from the record's energies.

        Raises:
            MissingDataError: (a ``ValueError``) naming the energy or geometry that is missing.
        """

    def lookup(self, record: MoleculeRecord, recompute: bool = False) -> float | None:
        """The stored value of this property, or ``None`` when unknown.

        Args:
            recompute: compute it from the energies first (``None`` if they are incomplete).
        """
        if recompute:
            try:
                return self.update_record(record)
            except MissingDataError:
                return None
        return record.properties.get(self.name, {}).get(self.level)

    def update_record(self, record: MoleculeRecord) -> float:
        """Compute the property and store it in ``record.properties[name][level]``."""
        value = float(self.compute_property(record))
        record.properties.setdefault(self.name, {})[self.level] = value
        return value

    def suggest_computations(self, record: MoleculeRecord) -> list[SimulationRequest]:
        """The simulations to run next; may not complete the recipe in one round. Changes nothing.

        Geometries are relaxed first (starting from the closest existing conformer, or, for a
        record without any, an ETKDG/MMFF94 geometry made for the request only: call
        :func:`~examol_core.conformers.add_initial_conformer` first to keep it in the record);
        single points follow once the relaxed geometry exists.
        """
        output = []
        for geometry, energies in self.recipe.items():
            try:
                conformer, _ = record.find_lowest_conformer(geometry.config_name, geometry.charge, None)
            except MissingDataError:
                output.append(SimulationRequest(xyz=_starting_xyz(record, geometry), optimize=True,
                                                config_name=geometry.config_name, charge=geometry.charge,
                                                smiles=record.identifier.smiles))
                continue
            for energy in energies:
                if conformer.get_energy_index(energy.config_name, energy.charge, energy.solvent) is None:
                    output.append(SimulationRequest(xyz=conformer.xyz, optimize=False, config_name=energy.config_name,
                                                    charge=energy.charge, solvent=energy.solvent,
                                                    smiles=record.identifier.smiles))
        return output


def _starting_xyz(record: MoleculeRecord, geometry: RequiredGeometry) -> str:
    """Prefer geometries from the same method, then the closest charge, then the newest; else embed one."""
    if not record.conformers:
        return generate_initial_xyz(record.identifier.smiles)[0]
    return min(record.conformers, key=lambda c: (c.config_name != geometry.config_name,
                                                  abs(c.charge - geometry.charge),
                                                  -c.date_created.timestamp())).xyz


class RedoxEnergy(PropertyRecipe):
    """Energy (eV) to change the charge of a molecule: E(charged) − E(neutral).

    Names: ``oxidation_potential`` (charge +1), ``reduction_potential`` (−1), with a
    ``double_`` prefix for ±2. Level: ``"{config_name}[-{solvent}]-{vertical|adiabatic}"``.
    Vertical: both energies at the relaxed neutral geometry. Adiabatic: each state at its own
    relaxed geometry.
    """

    def __init__(self, charge: int, config_name: str, vertical: bool = False, solvent: str | None = None):
        if charge not in (-2, -1, 1, 2):
            raise ValueError(f'RedoxEnergy charge must be ±1 or ±2, got {charge}')
        for part, label in ((config_name, 'config_name'), (solvent, 'solvent')):
            if part is not None and ('-' in part or '/' in part or not part):
                raise ValueError(f'{label} {part!r} must be non-empty and contain no "-" or "/"')
        name = ('double_' if abs(charge) == 2 else '') + ('oxidation_potential' if charge > 0 else 'reduction_potential')
        level = config_name + (f'-{solvent}' if solvent else '') + ('-vertical' if vertical else '-adiabatic')
        super().__init__(name, level)
        self.charge = charge
        self.config_name = config_name
        self.vertical = vertical
        self.solvent = solvent

    @staticmethod
    def handles(name: str) -> bool:
        return name.removeprefix('double_') in ('oxidation_potential', 'reduction_potential')

    @classmethod
    def from_name(cls, name: str, level: str) -> 'RedoxEnergy':
        if not cls.handles(name):
            raise ValueError(f'{name!r} is not a redox property')
        charge = (2 if name.startswith('double_') else 1) * (-1 if 'reduction' in name else 1)
        parts = level.split('-')
        if len(parts) not in (2, 3) or parts[-1] not in ('vertical', 'adiabatic'):
            raise ValueError(f'Redox level {level!r} is not "config[-solvent]-vertical|adiabatic"')
        solvent = parts[1] if len(parts) == 3 else None
        return cls(charge, parts[0], vertical=parts[-1] == 'vertical', solvent=solvent)

    @property
    def recipe(self) -> dict[RequiredGeometry, list[RequiredEnergy]]:
        neutral = RequiredGeometry(self.config_name, 0)
        if self.vertical:
            return {neutral: [RequiredEnergy(self.config_name, 0, self.solvent),
                              RequiredEnergy(self.config_name, self.charge, self.solvent)]}
        return {RequiredGeometry(self.config_name, c): [RequiredEnergy(self.config_name, c, self.solvent)]
                for c in (0, self.charge)}

    def compute_property(self, record: MoleculeRecord) -> float:
        neutral_conf, neutral_energy = record.find_lowest_conformer(self.config_name, 0, self.solvent)
        if self.vertical:
            try:
                charged_energy = neutral_conf.get_energy(self.config_name, self.charge, self.solvent)
            except MissingDataError as exc:
                raise MissingDataError(f'{record.identifier.smiles}: {self.name}/{self.level} needs {exc}') from None
        else:
            _, charged_energy = record.find_lowest_conformer(self.config_name, self.charge, self.solvent)
        return charged_energy - neutral_energy


class SolvationEnergy(PropertyRecipe):
    """Solvation energy (kcal/mol): E(solvated) − E(vacuum) at the relaxed neutral geometry.

    Name ``solvation_energy``, level ``"{config_name}-{solvent}"``.
    """

    def __init__(self, config_name: str, solvent: str):
        for part, label in ((config_name, 'config_name'), (solvent, 'solvent')):
            if not part or '-' in part or '/' in part:
                raise ValueError(f'{label} {part!r} must be non-empty and contain no "-" or "/"')
        super().__init__('solvation_energy', f'{config_name}-{solvent}')
        self.config_name = config_name
        self.solvent = solvent

    @staticmethod
    def handles(name: str) -> bool:
        return name == 'solvation_energy'

    @classmethod
    def from_name(cls, name: str, level: str) -> 'SolvationEnergy':
        parts = level.split('-')
        if name != 'solvation_energy' or len(parts) != 2:
            raise ValueError(f'Solvation level {level!r} is not "config-solvent"')
        return cls(*parts)

    @property
    def recipe(self) -> dict[RequiredGeometry, list[RequiredEnergy]]:
        return {RequiredGeometry(self.config_name, 0): [RequiredEnergy(self.config_name, 0, None),
                                                        RequiredEnergy(self.config_name, 0, self.solvent)]}

    def compute_property(self, record: MoleculeRecord) -> float:
        conf, vacuum = record.find_lowest_conformer(self.config_name, 0, None)
        try:
            solvated = conf.get_energy(self.config_name, 0, self.solvent)
        except MissingDataError as exc:
            raise MissingDataError(f'{record.identifier.smiles}: {self.name}/{self.level} needs {exc}') from None
        return (solvated - vacuum) * KCAL_PER_EV
