"""Reading a model file's zip archive as hostile input: bounded, and never outside its folder.

Before anything is written, the archive's directory is checked: how many entries it has, how
many bytes they unpack to, and how much each is compressed (a "zip bomb" of 0.5 MB can unpack to
gigabytes). Entries whose names leave the archive's folder, or appear twice, are refused.
Extraction then counts the bytes it writes, so a header that lies cannot exceed the limits
either. Runs on the steering side.
"""
from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from examol_core.errors import IncompatibleVersionError

__all__ = ['ExtractionLimits', 'DEFAULT_LIMITS', 'ArchiveLimitError', 'read_entry', 'extract_folders', 'DAMAGED']

DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)
"""What the zipfile module raises for a damaged, encrypted or unsupported archive."""

_CHUNK = 1 << 20


class ArchiveLimitError(IncompatibleVersionError):
    """A model file that would unpack to more than the limits allow."""


@dataclass(frozen=True)
class ExtractionLimits:
    """How much loading a model file may unpack.

    The defaults leave room for models trained on millions of molecules; raise them for a file
    you trust with ``load_model_file(path, limits=ExtractionLimits(max_bytes=...))``.

    Attributes:
        max_bytes: Total bytes of the entries unpacked.
        max_entries: Entries in the archive.
        max_ratio: Largest ratio of unpacked to packed size for an entry above ``ratio_floor``
            bytes (real payloads compress up to about 20 times; zeros up to about 1,000 times).
        ratio_floor: Entries smaller than this are not checked for their ratio.
    """

    max_bytes: int = 4 << 30
    max_entries: int = 10_000
    max_ratio: float = 200.
    ratio_floor: int = 1 << 20


DEFAULT_LIMITS = ExtractionLimits()


def _size(n: float) -> str:
    for unit in ('bytes', 'KB', 'MB', 'GB'):
        if n < 1024 or unit == 'GB':
            return f'{n:.0f} {unit}' if unit == 'bytes' else f'{n:.1f} {unit}'
        n /= 1024
    return f'{n:.1f} GB'


def _safe_name(name: str) -> bool:
    if not name or '\\' in name or '\0' in name or name.startswith('/'):
        return False
    parts = PurePosixPath(name).parts
    return all(p not in ('..', '.') for p in parts) and not (parts and ':' in parts[0])


def check_archive(zf: zipfile.ZipFile, path: Path, limits: ExtractionLimits) -> None:
    """Check the archive's directory against ``limits`` and for names leaving its folder; nothing is written.

    Raises:
        ArchiveLimitError: too many entries, too many bytes, or an entry compressed suspiciously well.
        IncompatibleVersionError: an entry named to leave the archive's folder, or named twice.
    """
    infos = zf.infolist()
    advice = 'if you trust this file, load it with larger examol_core.archive.ExtractionLimits'
    if len(infos) > limits.max_entries:
        raise ArchiveLimitError(f'{path} holds {len(infos)} entries, more than the {limits.max_entries} a model '
                                f'file may have; refusing to unpack it ({advice})')
    total, seen = 0, set()
    for info in infos:
        if not _safe_name(info.filename):
            raise IncompatibleVersionError(f'{path}: refusing to extract {info.filename[:100]!r}, which points outside '
                                           'the archive')
        if info.filename in seen:
            raise IncompatibleVersionError(f'{path}: the archive holds {info.filename[:100]!r} twice; it was modified')
        seen.add(info.filename)
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor and ratio > limits.max_ratio:
            raise ArchiveLimitError(f'{path}: {info.filename[:100]!r} would unpack {_size(info.compress_size)} into '
                                    f'{_size(info.file_size)} ({ratio:.0f} times), more than the {limits.max_ratio:.0f} '
                                    f'times allowed; refusing to unpack it ({advice})')
    if total > limits.max_bytes:
        raise ArchiveLimitError(f'{path} would unpack to {_size(total)}, more than the {_size(limits.max_bytes)} '
                                f'allowed; refusing to unpack it ({advice})')


def read_entry(zf: zipfile.ZipFile, name: str, path: Path, max_bytes: int) -> bytes:
    """The bytes of one entry, refusing one larger than ``max_bytes``.

    Raises:
        KeyError: no such entry.
        IncompatibleVersionError: larger than ``max_bytes``, or damaged.
    """
    info = zf.getinfo(name)
    if info.file_size > max_bytes:
        raise ArchiveLimitError(f'{path}: {name} is {_size(info.file_size)}, more than the {_size(max_bytes)} allowed')
    try:
        with zf.open(info) as fp:
            data = fp.read(max_bytes + 1)
    except DAMAGED as exc:
        raise IncompatibleVersionError(f'{path} is damaged: cannot read {name} ({type(exc).__name__}: {exc})') from None
    if len(data) > max_bytes:
        raise ArchiveLimitError(f'{path}: {name} unpacks to more than its declared size; the file was modified')
    return data


def extract_folders(zf: zipfile.ZipFile, folders: list[str], target: Path, path: Path,
                    limits: ExtractionLimits = DEFAULT_LIMITS) -> None:
    """Extract the entries under ``folders`` (relative POSIX paths) into ``target``, within ``limits``.

    Entries outside those folders are not extracted. Symbolic links are written as the small
    files they are stored as, never as links.

    Raises:
        ArchiveLimitError, IncompatibleVersionError: see :func:`check_archive`; also a damaged
            entry, or one that unpacks to more than its header says.
    """
    check_archive(zf, path, limits)
    root = target.resolve()
    prefixes = tuple(f'{folder.rstrip("/")}/' for folder in folders)
    written = 0
    for info in zf.infolist():
        if not info.filename.startswith(prefixes):
            continue
        dest = (target / info.filename).resolve()
        if not dest.is_relative_to(root):  # _safe_name already refused it; kept as a second lock
            raise IncompatibleVersionError(f'{path}: refusing to extract {info.filename[:100]!r}, which points '
                                           'outside the archive')
        if info.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        left = min(info.file_size, limits.max_bytes - written)
        try:
            with zf.open(info) as src, open(dest, 'xb') as out:
                while chunk := src.read(min(_CHUNK, left + 1)):
                    if len(chunk) > left:
                        raise ArchiveLimitError(f'{path}: {info.filename[:100]!r} unpacks to more than its declared '
                                                'size or the limits; the file was modified')
                    out.write(chunk)
                    left -= len(chunk)
                    written += len(chunk)
        except DAMAGED as exc:
            raise IncompatibleVersionError(f'{path} is damaged: cannot extract {info.filename[:100]!r} '
                                           f'({type(exc).__name__}: {exc})') from None
