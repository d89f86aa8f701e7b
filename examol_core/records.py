"""Molecule records: what is known about one molecule, stored as JSON.

Records live on the steering side. They hold identifiers, 3D conformers with the energies
computed for them, and the properties derived from those energies by recipes.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from examol_core.errors import DataFileError, InvalidIdentifierError, MissingDataError
from examol_core.files import replacing


def _now() -> datetime:
    return datetime.now(UTC)


INCHI_MAX_ATOMS = 1023
"""Most heavy atoms an InChI (and so a record's key, the InChIKey) can describe."""


def _rdkit_problem(call: Callable[[], Any], text: str = '') -> str:
    """Why RDKit fails in ``call()``, in RDKit's words: it is re-run with RDKit's error log captured.

    Called only after a failure, so that parsing stays as fast as RDKit. Lines echoing ``text`` are left out.
    """
    from rdkit import rdBase

    if not hasattr(rdBase, 'CaptureErrorLog'):  # older RDKit
        return ''
    with rdBase.CaptureErrorLog() as capture:
        call()
    reasons = []
    for line in capture.messages.splitlines():
        line = re.sub(r'^\[[0-9:]+\] ', '', line).strip()
        line = line.removeprefix('SMILES Parse Error: ').removeprefix('ERROR: ')
        line = re.sub(r" for input: '.*'$", '', line).rstrip(':').strip()
        if line and line != 'ERROR' and line != text and not set(line) <= {'~', '^', ' '} and not line.startswith('Failed parsing'):
            if line not in reasons:
                reasons.append(line)
    return '; '.join(reasons)[:300]


def parse_identifier(identifier: str):
    """Parse a SMILES or InChI string into an RDKit molecule.

    The string must hold the identifier alone: ``'CCO ethanol'`` is refused rather than read as
    ethanol (RDKit would take the text after a space as a name), so that a second field is never
    silently dropped. Read files of ``SMILES name`` lines with :func:`~examol_core.colmena.read_smiles`.

    Raises:
        InvalidIdentifierError: if the string is empty, holds whitespace, or RDKit cannot parse it
            (with RDKit's reason).
    """
    from rdkit import Chem, rdBase

    if not isinstance(identifier, str) or not identifier.strip():
        raise InvalidIdentifierError(str(identifier), reason='is empty or not a string')
    text = identifier.strip()
    if any(c.isspace() for c in text):
        raise InvalidIdentifierError(identifier, reason='contains whitespace: give the SMILES or InChI alone '
                                                        '(a name or other field after it is not read)')
    parse = Chem.MolFromInchi if text.startswith('InChI=') else Chem.MolFromSmiles
    with rdBase.BlockLogs():
        mol = parse(text)
    if mol is None:
        reason = _rdkit_problem(lambda: parse(text), text)
        raise InvalidIdentifierError(identifier, reason=f'could not be parsed: {reason}' if reason else 'could not be parsed')
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
            InvalidIdentifierError: (a ``ValueError``) if the string cannot be parsed (see
                :func:`parse_identifier`) or the molecule has no InChI (more than
                :data:`INCHI_MAX_ATOMS` heavy atoms, for example).
        """
        from rdkit import Chem, rdBase

        mol = parse_identifier(identifier)
        heavy = mol.GetNumHeavyAtoms()
        if heavy > INCHI_MAX_ATOMS:
            raise InvalidIdentifierError(identifier, reason=f'has {heavy} heavy atoms; an InChI, which gives the '
                                                            f'record its key, describes at most {INCHI_MAX_ATOMS}')
        with rdBase.BlockLogs():
            inchi = Chem.MolToInchi(mol)
            key = Chem.MolToInchiKey(mol) if inchi else ''
        if not key:
            reason = _rdkit_problem(lambda: Chem.MolToInchi(mol))
            raise InvalidIdentifierError(identifier, reason='has no InChI' + (f' (InChI: {reason})' if reason else ''))
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


def _first_error(exc: ValidationError) -> str:
    """The first problem pydantic found, on one line, without echoing the input."""
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    where = '.'.join(str(part) for part in first['loc'])
    more = f'; {len(errors) - 1} more' if len(errors) > 1 else ''
    return f'{where + ": " if where else ""}{first["msg"]}{more}'


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw bytes)`` of a file, decompressed when its name ends in ``.gz``."""
    opener = gzip.open if path.suffix == '.gz' else open
    with opener(path, 'rb') as fp:
        yield from enumerate(fp, 1)


def read_records(path: str | os.PathLike) -> Iterator[MoleculeRecord]:
    """Read records from a JSON-lines file (``.gz`` is decompressed).

    See :func:`read_numbered_records` for the errors raised.
    """
    for _, record in read_numbered_records(path):
        yield record


def read_numbered_records(path: str | os.PathLike) -> Iterator[tuple[int, MoleculeRecord]]:
    """``(line number, record)`` for each record of a JSON-lines file, so later errors can name the line.

    Raises:
        FileNotFoundError: no such file.
        DataFileError: (a ``ValueError``) a folder; a file named ``.gz`` that is not gzip-compressed;
            a compressed file that is truncated or damaged; a line that is not UTF-8 text or not a
            record. The message names the file, the line, and how many records were read.
    """
    path = Path(path)
    if path.is_dir():
        raise DataFileError(f'{path} is a folder, not a records file (JSON lines, .jsonl or .jsonl.gz)')
    lineno = count = 0
    try:
        for lineno, raw in _lines(path):
            if not raw.strip():
                continue
            if lineno == 1 and raw.startswith(b'\x1f\x8b'):
                raise DataFileError(f'{path} is gzip-compressed but its name does not end in .gz: rename it')
            try:
                text = raw.decode('utf-8')
            except UnicodeDecodeError as exc:
                raise DataFileError(f'{path}:{lineno}: not UTF-8 text ({exc.reason} at byte {exc.start}); '
                                    'records files are UTF-8 JSON lines') from None
            try:
                record = MoleculeRecord.model_validate_json(text)
            except ValidationError as exc:
                raise DataFileError(f'{path}:{lineno}: not a valid molecule record ({_first_error(exc)})') from None
            count += 1
            yield lineno, record
    except gzip.BadGzipFile as exc:
        if lineno == 0:
            raise DataFileError(f'{path} is not gzip-compressed although its name ends in .gz: rename it or compress '
                                'it') from None
        raise DataFileError(f'{path} is damaged after line {lineno} ({count} records read): {exc}') from None
    except EOFError:
        raise DataFileError(f'{path} is truncated: the compressed data ends after line {lineno} ({count} records '
                            'read); it was not completely written or copied') from None
    except zlib.error as exc:
        raise DataFileError(f'{path} is damaged after line {lineno} ({count} records read): {exc}') from None


def write_records(records: Iterable[MoleculeRecord], path: str | os.PathLike) -> int:
    """Write records as JSON lines (gzip-compressed if the name ends in ``.gz``), atomically.

    The records go to a temporary beside ``path`` that replaces it only once complete, so a
    crash never leaves a truncated file (see :mod:`examol_core.files` for the temporaries' names
    and the files' mode).

    Returns:
        The number of records written.
    Raises:
        DataFileError: ``path`` cannot be written (a parent is a file, or it is a folder).
    """
    path = Path(path)
    count = 0
    with replacing(path) as tmp, open(tmp, 'wb') as raw:
        stream = gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) if path.suffix == '.gz' else raw
        for record in records:
            stream.write(record.model_dump_json().encode('utf-8') + b'\n')
            count += 1
        if stream is not raw:
            stream.close()  # writes the gzip trailer; leaves ``raw`` open
        raw.flush()
        os.fsync(raw.fileno())
    return count
