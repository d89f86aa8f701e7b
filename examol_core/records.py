"""Molecule records: what is known about one molecule, stored as JSON.

Records live on the steering side. They hold identifiers, 3D conformers with the energies
computed for them, and the properties derived from those energies by recipes.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from examol_core.errors import InvalidIdentifierError, MissingDataError


def _now() -> datetime:
    return datetime.now(UTC)


def parse_identifier(identifier: str):
    """Parse a SMILES or InChI string into an RDKit molecule.

    Raises:
        InvalidIdentifierError: if RDKit cannot parse the string.
    """
    from rdkit import Chem, rdBase

    if not isinstance(identifier, str) or not identifier.strip():
        raise InvalidIdentifierError(str(identifier), reason='is empty or not a string')
    text = identifier.strip()
    with rdBase.BlockLogs():
        if text.startswith('InChI='):
            mol = Chem.MolFromInchi(text)
        else:
            mol = Chem.MolFromSmiles(text)
    if mol is None:
        raise InvalidIdentifierError(identifier)
    return mol


class Identifiers(BaseModel):
    """Line notations of the molecule."""

    smiles: str
    inchi: str


class EnergyEvaluation(BaseModel):
    """One energy computed for a conformer under given conditions."""

    energy: float = Field(description='Energy in eV')
    config_name: str
    charge: int
    solvent: str | None = None
    completed: datetime = Field(default_factory=_now)


def xyz_hash(xyz: str) -> str:
    """A hash of a geometry that ignores whitespace and rounding noise below 1e-4 Å."""
    lines = xyz.strip().splitlines()[2:]
    canon = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 4:
            canon.append(parts[0] + ' ' + ' '.join(f'{float(x):.4f}' for x in parts[1:4]))
    return hashlib.sha256('\n'.join(canon).encode()).hexdigest()


class Conformer(BaseModel):
    """A 3D geometry of the molecule and the energies computed at it."""

    xyz: str
    xyz_hash: str = ''
    date_created: datetime = Field(default_factory=_now)
    source: Literal['relaxation', 'initial', 'other'] = 'other'
    config_name: str | None = Field(default=None, description='Method that produced the geometry')
    charge: int = Field(default=0, description='Charge at which the geometry was produced')
    energies: list[EnergyEvaluation] = Field(default_factory=list)

    def model_post_init(self, __context) -> None:
        if not self.xyz_hash:
            self.xyz_hash = xyz_hash(self.xyz)

    def get_energy_index(self, config_name: str, charge: int, solvent: str | None = None) -> int | None:
        """Position of a matching energy in :attr:`energies`, or ``None``."""
        for i, e in enumerate(self.energies):
            if e.config_name == config_name and e.charge == charge and e.solvent == solvent:
                return i
        return None

    def get_energy(self, config_name: str, charge: int, solvent: str | None = None) -> float:
        """Energy (eV) computed for this geometry.

        Raises:
            MissingDataError: if no such energy was computed.
        """
        index = self.get_energy_index(config_name, charge, solvent)
        if index is None:
            raise MissingDataError(
                f'No energy for config_name={config_name!r}, charge={charge}, solvent={solvent!r} '
                f'on conformer {self.xyz_hash[:8]}'
            )
        return self.energies[index].energy

    def add_energy(self, energy: EnergyEvaluation) -> bool:
        """Add an energy unless one for the same conditions exists; returns whether it was added."""
        if self.get_energy_index(energy.config_name, energy.charge, energy.solvent) is not None:
            return False
        self.energies.append(energy)
        return True


class MoleculeRecord(BaseModel):
    """Everything known about one molecule."""

    key: str = Field(description='InChIKey')
    identifier: Identifiers
    names: list[str] = Field(default_factory=list)
    subsets: list[str] = Field(default_factory=list)
    conformers: list[Conformer] = Field(default_factory=list)
    properties: dict[str, dict[str, float]] = Field(default_factory=dict)

    @classmethod
    def from_identifier(cls, identifier: str, **kwargs) -> 'MoleculeRecord':
        """Make a record from a SMILES or InChI string.

        Raises:
            InvalidIdentifierError: (a ``ValueError``) if the string cannot be parsed.
        """
        from rdkit import Chem, rdBase

        mol = parse_identifier(identifier)
        with rdBase.BlockLogs():
            inchi = Chem.MolToInchi(mol)
            key = Chem.MolToInchiKey(mol)
        if not key:
            raise InvalidIdentifierError(identifier, reason='has no InChIKey')
        return cls(key=key, identifier=Identifiers(smiles=Chem.MolToSmiles(mol), inchi=inchi), **kwargs)

    def add_conformer(self, conformer: Conformer) -> Conformer:
        """Add a conformer, merging energies into an existing one with the same geometry."""
        for existing in self.conformers:
            if existing.xyz_hash == conformer.xyz_hash:
                for energy in conformer.energies:
                    existing.add_energy(energy)
                return existing
        self.conformers.append(conformer)
        return conformer

    def find_lowest_conformer(self, config_name: str, charge: int, solvent: str | None = None,
                              optimized_only: bool = True) -> tuple[Conformer, float]:
        """The lowest-energy conformer for given conditions, and its energy (eV).

        Args:
            optimized_only: Only consider geometries relaxed with ``config_name`` at ``charge``.
        Raises:
            MissingDataError: if no conformer has that energy.
        """
        best: tuple[Conformer, float] | None = None
        for conf in self.conformers:
            if optimized_only and (conf.source != 'relaxation' or conf.config_name != config_name or conf.charge != charge):
                continue
            index = conf.get_energy_index(config_name, charge, solvent)
            if index is None:
                continue
            energy = conf.energies[index].energy
            if best is None or energy < best[1]:
                best = (conf, energy)
        if best is None:
            kind = 'relaxed ' if optimized_only else ''
            raise MissingDataError(
                f'{self.identifier.smiles}: no {kind}conformer with an energy for config_name={config_name!r}, '
                f'charge={charge}, solvent={solvent!r}'
            )
        return best


def _open(path: Path, mode: str):
    if path.suffix == '.gz':
        return gzip.open(path, mode + 't', encoding='utf-8')
    return open(path, mode, encoding='utf-8')


def read_records(path: str | os.PathLike) -> Iterator[MoleculeRecord]:
    """Read records from a JSON-lines file (``.gz`` is decompressed)."""
    path = Path(path)
    with _open(path, 'r') as fp:
        for lineno, line in enumerate(fp, 1):
            if not line.strip():
                continue
            try:
                yield MoleculeRecord.model_validate_json(line)
            except ValueError as exc:
                raise ValueError(f'{path}:{lineno}: not a valid molecule record: {exc}') from exc


def write_records(records: Iterable[MoleculeRecord], path: str | os.PathLike) -> int:
    """Write records as JSON lines, atomically: a crash never leaves a truncated file.

    The records go to a temporary file beside ``path`` that replaces it only once complete.

    Returns:
        The number of records written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; records are ordinary data files
    count = 0
    try:
        with os.fdopen(fd, 'wb') as raw:
            stream = gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) if path.suffix == '.gz' else raw
            for record in records:
                stream.write(record.model_dump_json().encode('utf-8') + b'\n')
                count += 1
            if stream is not raw:
                stream.close()  # writes the gzip trailer; leaves ``raw`` open
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return count
