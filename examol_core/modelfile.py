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
Keras), so that opening a model file from someone else is safe. Loading (:func:`load_model_file`,
:func:`open_model_file`) lives in :mod:`examol_core.modelload` and is importable from here.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from examol_core.archive import DAMAGED, ExtractionLimits, read_entry
from examol_core.errors import ExamolError, IncompatibleVersionError
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
from examol_core.modelload import OpenModelFile, load_model_file, open_model_file  # re-exported: loading lives there
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

