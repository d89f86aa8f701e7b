"""The saved-model file: a trained model (or a bootstrap ensemble) with a manifest saying what it is.

A model file is a zip archive (or the same tree as a plain directory) laid out as::

    manifest.json        # what the model is, who wrote it, how to rebuild the scorer (format below)
    members/0/...        # payload of ensemble member 0, written by Scorer.save_model
    members/1/...        # further members of a bootstrap ensemble, if any

``manifest.json`` (format ``examol-model``, version :data:`FORMAT_VERSION`)::

    {"format": "examol-model", "format_version": 1,
     "examol_core_version": "0.1.0", "created": "2026-11-25T16:00:00+00:00",
     "scorer": {"name": "rdkit", "options": {}},
     "plugin": {"distribution": "examol-rdkit", "version": "0.1.0"},
     "model": {"name": "knn", "options": {"n_neighbors": 3}},
     "recipe": "oxidation_potential/gfn2-adiabatic",
     "lower_recipes": ["oxidation_potential/gfn1-vertical"],
     "ensemble": {"size": 1, "bootstrap": false, "members": ["members/0"]},
     "training": {"records": 800}}

Everything runs on the steering side. examol itself only ever reads JSON from the file; the
payload is read by the scorer's :meth:`~examol_core.scorer.Scorer.load_model`, which must use a
format that cannot execute code on load (skops for scikit-learn, JSON + weight arrays for
Keras), so that opening a model file from someone else is safe.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from examol_core.archive import DAMAGED, DEFAULT_LIMITS, ExtractionLimits, extract_folders, read_entry
from examol_core.errors import ExamolError, IncompatibleVersionError, UnknownPluginError
from examol_core.files import replacing
from examol_core.manifest import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    EnsembleInfo,
    ModelInfo,
    ModelManifest,
    PluginInfo,
    ScorerInfo,
    parse_manifest,
)
from examol_core.recipes import PropertyRecipe
from examol_core.scorer import Scorer

MAX_MANIFEST_BYTES = 1 << 20
"""Largest ``manifest.json`` read (a real one is about 1 KB)."""

__all__ = ['FORMAT_NAME', 'FORMAT_VERSION', 'ModelManifest', 'SavedModel', 'OpenModelFile', 'ExtractionLimits',
           'save_model_file', 'load_model_file', 'open_model_file', 'read_manifest']


@dataclass
class SavedModel:
    """A model file loaded back: the scorer rebuilt from the manifest and the model(s)."""

    manifest: ModelManifest
    scorer: Scorer
    members: list[Any]
    path: Path

    @property
    def scorer_name(self) -> str:
        return self.manifest.scorer.name

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    @property
    def model(self) -> Any:
        """The model of a single-member file; the list of members of an ensemble."""
        return self.members[0] if len(self.members) == 1 else list(self.members)

    @property
    def recipe(self) -> PropertyRecipe | None:
        return None if self.manifest.recipe is None else PropertyRecipe.from_spec(self.manifest.recipe)

    @property
    def lower_recipes(self) -> list[PropertyRecipe]:
        return [PropertyRecipe.from_spec(s) for s in self.manifest.lower_recipes]


def _core_version() -> str:
    from examol_core import __version__

    return __version__


def _check_json(what: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ExamolError(f'{what} must be JSON-serialisable to be stored in the model manifest: {exc}') from exc


def save_model_file(path: str | os.PathLike, models: Any, *, scorer_name: str,
                    scorer_options: dict[str, Any] | None = None, scorer: Scorer | None = None,
                    model_name: str | None = None, model_options: dict[str, Any] | None = None,
                    recipe: PropertyRecipe | str | None = None,
                    lower_recipes: Sequence[PropertyRecipe | str] = (), bootstrap: bool = False,
                    training: dict[str, Any] | None = None, as_directory: bool = False) -> ModelManifest:
    """Save a trained model, or the members of an ensemble, with a manifest (steering side).

    The file is written atomically: a temporary beside ``path`` replaces it once complete (see
    :mod:`examol_core.files` for its name and for the mode of the file).

    Args:
        path: Where to write: a zip file, or a directory when ``as_directory``.
        models: The model, or a list/tuple of models for an ensemble (wrap a model that is itself
            a list in a one-element list).
        scorer_name: Name of the scorer in the plugin registry (e.g. ``rdkit``).
        scorer_options: Options the scorer was built with; loading rebuilds it with them.
        scorer: The scorer to write the payload with; built from ``scorer_name`` and options if omitted.
        model_name: Name of the model factory (e.g. ``knn``), for the record.
        model_options: Options given to the model factory, for the record.
        recipe: The property the model predicts (``PropertyRecipe`` or ``NAME/LEVEL``).
        lower_recipes: Lower fidelity levels the model was trained with, lowest first.
        bootstrap: Whether the ensemble members were trained on bootstrap samples.
        training: Free-form JSON facts about the training run (records used, seed...).
        as_directory: Write an unpacked directory instead of a zip file.
    Returns:
        The manifest written.
    Raises:
        UnknownPluginError: ``scorer_name`` is not installed.
        ExamolError: the scorer cannot save models, options are not JSON-serialisable, or ``path``
            cannot be written (:class:`~examol_core.errors.DataFileError`).
    """
    from examol_core.plugins import get_scorer_spec, load_scorer

    path = Path(path)
    members = list(models) if isinstance(models, (list, tuple)) else [models]
    if not members:
        raise ExamolError('Nothing to save: the list of ensemble members is empty')
    scorer_options = dict(scorer_options or {})
    model_options = dict(model_options or {})
    training = dict(training or {})
    for what, value in (('scorer_options', scorer_options), ('model_options', model_options), ('training', training)):
        _check_json(what, value)
    spec = get_scorer_spec(scorer_name)
    if scorer is None:
        scorer = load_scorer(scorer_name, **scorer_options)

    def _spec(r: PropertyRecipe | str) -> str:
        return r if isinstance(r, str) else r.spec

    try:
        manifest = ModelManifest(
            format=FORMAT_NAME, format_version=FORMAT_VERSION, examol_core_version=_core_version(),
            created=datetime.now(UTC).isoformat(timespec='seconds'),
            scorer=ScorerInfo(name=scorer_name, options=scorer_options),
            plugin=PluginInfo(distribution=spec.distribution, version=spec.version),
            model=ModelInfo(name=model_name, options=model_options),
            recipe=None if recipe is None else _spec(recipe),
            lower_recipes=[_spec(r) for r in lower_recipes],
            ensemble=EnsembleInfo(size=len(members), bootstrap=bootstrap,
                                  members=[f'members/{i}' for i in range(len(members))]),
            training=training,
        )
    except ValidationError as exc:
        raise ExamolError(f'Cannot save {path}: the manifest would not load back: {exc}') from None

    if as_directory and path.is_dir() and not (path / MANIFEST).is_file():
        raise ExamolError(f'{path} exists and is not a model folder; refusing to replace it')
    with replacing(path, directory=as_directory) as tmp:
        with tempfile.TemporaryDirectory(prefix='examol-save-') as scratch:
            staging = tmp if as_directory else Path(scratch)
            for member, rel in zip(members, manifest.ensemble.members, strict=True):
                directory = staging / rel
                directory.mkdir(parents=True)
                scorer.save_model(member, directory)
            (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2) + '\n', encoding='utf-8')
            if not as_directory:
                with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_DEFLATED) as zf:
                    zf.write(staging / MANIFEST, MANIFEST)  # first, so readers find it quickly
                    for file in sorted(staging.rglob('*')):
                        if file.is_file() and file != staging / MANIFEST:
                            zf.write(file, file.relative_to(staging).as_posix())
    return manifest


def read_manifest(path: str | os.PathLike) -> ModelManifest:
    """Read and check the manifest of a model file without loading any plugin or payload.

    Raises:
        FileNotFoundError: no such file.
        IncompatibleVersionError: not a model file, damaged, written in a newer format, or a
            manifest field that fails its check (see :mod:`examol_core.manifest`).
    """
    path = Path(path)
    if path.is_dir():
        file = path / MANIFEST
        if not file.is_file():
            raise IncompatibleVersionError(f'{path} is a folder without manifest.json: not an examol model')
        if file.stat().st_size > MAX_MANIFEST_BYTES:
            raise IncompatibleVersionError(f'{path}: manifest.json is larger than {MAX_MANIFEST_BYTES} bytes')
        return parse_manifest(file.read_bytes(), path)
    if not path.exists():
        raise FileNotFoundError(f'No model file at {path}')
    if not zipfile.is_zipfile(path):
        raise IncompatibleVersionError(f'{path} is not an examol model file (expected a zip archive with manifest.json)')
    try:
        with zipfile.ZipFile(path) as zf:
            raw = read_entry(zf, MANIFEST, path, MAX_MANIFEST_BYTES)
    except KeyError:
        raise IncompatibleVersionError(f'{path} is a zip archive without manifest.json: not an examol model') from None
    except DAMAGED as exc:
        raise IncompatibleVersionError(f'{path} is a damaged zip archive ({type(exc).__name__}: {exc})') from None
    return parse_manifest(raw, path)


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
