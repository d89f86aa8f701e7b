"""Loading a model file (see :mod:`examol_core.modelfile` for its format): checks first, members last.

:func:`open_model_file` checks everything that can be checked without running the scorer's
loader (the manifest, the plugin, the scorer rebuilt from its options, the archive's limits, and
that every member's folder stays inside the model); :meth:`OpenModelFile.load` then loads the
members with the scorer's safe loader, the slow part, which a task server may overlap.
:func:`load_model_file` does both. Everything runs on the steering side; the three are
importable from :mod:`examol_core.modelfile` too.
"""
from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from examol_core.archive import DAMAGED, DEFAULT_LIMITS, ExtractionLimits, extract_folders
from examol_core.errors import ExamolError, IncompatibleVersionError, UnknownPluginError
from examol_core.manifest import ModelManifest
from examol_core.scorer import Scorer

if TYPE_CHECKING:
    from examol_core.modelfile import SavedModel

__all__ = ['OpenModelFile', 'load_model_file', 'open_model_file']


def _version_key(version: str) -> tuple[str, ...]:
    return tuple(version.split('.')[:2])


def _member_folder(root: Path, rel: str, path: Path, index: int) -> Path:
    """The folder of an ensemble member, which must lie inside the model, links followed.

    Raises:
        IncompatibleVersionError: naming the model file and the member, if it is missing or leaves the model.
    """
    folder = root / rel
    resolved, inside = folder.resolve(), root.resolve()
    if not resolved.is_relative_to(inside):
        raise IncompatibleVersionError(f'{path}: ensemble member {index} ({rel}) points outside the model; refusing '
                                       'to load it')
    if not folder.is_dir():
        raise IncompatibleVersionError(f'{path}: ensemble member {index} ({rel}) is missing; the file is damaged')
    for file in folder.rglob('*'):
        if not file.resolve().is_relative_to(inside):
            raise IncompatibleVersionError(f'{path}: {file.relative_to(root).as_posix()} links outside the model; '
                                           'refusing to load it')
    return folder


class _Renamer:
    """Say ``model.zip:members/0/x`` where a plugin's message says ``/tmp/examol-model-abc/members/0/x``."""

    def __init__(self, root: Path, path: Path):
        self.roots = [str(root), str(root.resolve())]
        self.path = path

    def __call__(self, text: str) -> str:
        for root in self.roots:
            text = text.replace(root + os.sep, f'{self.path}:').replace(root, str(self.path))
        return text


def _load_members(scorer: Scorer, manifest: ModelManifest, root: Path, path: Path, spec: Any) -> list[Any]:
    """Load each member with the scorer; errors and warnings name the model file, not ``root``."""
    rename = _Renamer(root, path)
    members = []
    for i, rel in enumerate(manifest.ensemble.members):
        folder = root / rel  # checked by open_model_file
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try:
                members.append(scorer.load_model(folder))
            except Exception as exc:
                what = '' if isinstance(exc, ExamolError) else f'{type(exc).__name__}: '
                raise IncompatibleVersionError(
                    f'{path}: scorer {manifest.scorer.name!r} ({spec.distribution} {spec.version}) could not read '
                    f'member {i} ({rel}), saved with {manifest.plugin.distribution or "?"} '
                    f'{manifest.plugin.version or "?"}: {what}{rename(str(exc))}') from exc
        for warning in caught:
            warnings.warn_explicit(rename(str(warning.message)), warning.category, warning.filename, warning.lineno)
    return members


@dataclass
class OpenModelFile:
    """A model file whose manifest is checked, scorer rebuilt and members unpacked, but not yet loaded.

    From :func:`open_model_file`. Loading the members (:meth:`load`) is most of the time of
    opening a model (the scorer's safe loader, e.g. skops, with its imports): a task server can
    start in the meantime, since it needs only the scorer.
    """

    manifest: ModelManifest
    scorer: Scorer
    path: Path
    root: Path
    spec: Any

    @property
    def is_ensemble(self) -> bool:
        return len(self.manifest.ensemble.members) > 1

    def load(self) -> SavedModel:
        """Load each member with the scorer (its safe loader); valid while the ``with`` block is open."""
        from examol_core.modelfile import SavedModel

        members = _load_members(self.scorer, self.manifest, self.root, self.path, self.spec)
        return SavedModel(manifest=self.manifest, scorer=self.scorer, members=members, path=self.path)


def load_model_file(path: str | os.PathLike, *, limits: ExtractionLimits = DEFAULT_LIMITS) -> SavedModel:
    """Load a model file: check the manifest, rebuild the scorer, and load each member (steering side).

    A zip archive is checked against ``limits`` before anything is unpacked, and only the members'
    folders are unpacked, into a temporary folder; no path from the file may lead outside it.

    Args:
        path: The model file (zip archive) or folder.
        limits: How much the archive may unpack (:class:`~examol_core.archive.ExtractionLimits`).
    Raises:
        FileNotFoundError: no such file.
        IncompatibleVersionError: not a model file, damaged, written in a newer format, over the
            limits, a path leading outside the model, or a payload the installed plugin cannot read.
        UnknownPluginError: the scorer plugin that wrote the model is not installed.
    """
    with open_model_file(path, limits=limits) as opened:
        return opened.load()


@contextmanager
def open_model_file(path: str | os.PathLike, *, limits: ExtractionLimits = DEFAULT_LIMITS) -> Iterator[OpenModelFile]:
    """Check a model file and rebuild its scorer; unpack its members, to be loaded by :meth:`OpenModelFile.load`.

    Every check of :func:`load_model_file` but the members' own loading is done on entry; the
    unpacked members are removed on exit. Same arguments and errors as :func:`load_model_file`.
    """
    from examol_core.modelfile import read_manifest
    from examol_core.plugins import available_scorers, load_errors_note, load_scorer

    path = Path(path)
    manifest = read_manifest(path)
    name = manifest.scorer.name
    scorers = available_scorers()
    if name not in scorers:
        saved_by = f'{manifest.plugin.distribution} {manifest.plugin.version}'.strip() or 'a plugin'
        msg = (f'{path} was saved by scorer {name!r} from {saved_by}, which is not installed (installed scorers: '
               f'{", ".join(sorted(scorers)) or "none"}). Install the plugin that provides scorer {name!r} to load '
               'this model.')
        raise UnknownPluginError(msg + load_errors_note())
    spec = scorers[name]
    if manifest.plugin.version and spec.version and _version_key(spec.version) != _version_key(manifest.plugin.version):
        warnings.warn(f'{path} was saved with {manifest.plugin.distribution} {manifest.plugin.version}; '
                      f'{spec.distribution} {spec.version} is installed. Loading may fail or give different results.',
                      stacklevel=2)
    try:
        scorer = load_scorer(name, **manifest.scorer.options)
    except (TypeError, ValueError) as exc:
        raise IncompatibleVersionError(f'{path}: cannot rebuild scorer {name!r} with the saved options '
                                       f'({", ".join(manifest.scorer.options) or "none"}): {exc}') from None

    with ExitStack() as stack:
        root = path
        if not path.is_dir():
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix='examol-model-')))
            try:
                with zipfile.ZipFile(path) as zf:
                    extract_folders(zf, manifest.ensemble.members, root, path, limits)
            except DAMAGED as exc:
                raise IncompatibleVersionError(f'{path} is a damaged zip archive ({type(exc).__name__}: {exc})'
                                               ) from None
        for i, rel in enumerate(manifest.ensemble.members):
            _member_folder(root, rel, path, i)
        yield OpenModelFile(manifest, scorer, path, root, spec)
