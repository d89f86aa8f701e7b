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
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from examol_core.errors import ExamolError, IncompatibleVersionError, UnknownPluginError
from examol_core.recipes import PropertyRecipe
from examol_core.scorer import Scorer

FORMAT_NAME = 'examol-model'
FORMAT_VERSION = 1
"""Version of the layout and manifest this examol-core writes; it reads this version and older."""

MANIFEST = 'manifest.json'

__all__ = ['FORMAT_NAME', 'FORMAT_VERSION', 'ModelManifest', 'SavedModel', 'save_model_file', 'load_model_file',
           'read_manifest']


class _Part(BaseModel):
    model_config = ConfigDict(extra='allow')


class ScorerInfo(_Part):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class PluginInfo(_Part):
    distribution: str = ''
    version: str = ''


class ModelInfo(_Part):
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class EnsembleInfo(_Part):
    size: int = Field(ge=1)
    bootstrap: bool = False
    members: list[str]


class ModelManifest(_Part):
    """Contents of ``manifest.json``; unknown keys are kept, so newer minor additions still load."""

    format: str
    format_version: int
    examol_core_version: str
    created: str
    scorer: ScorerInfo
    plugin: PluginInfo = Field(default_factory=PluginInfo)
    model: ModelInfo = Field(default_factory=ModelInfo)
    recipe: str | None = None
    lower_recipes: list[str] = Field(default_factory=list)
    ensemble: EnsembleInfo
    training: dict[str, Any] = Field(default_factory=dict)


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

    The file is written atomically: a temporary file beside ``path`` replaces it once complete.

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
        ExamolError: the scorer cannot save models, or options are not JSON-serialisable.
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

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{path.name}.', dir=path.parent))
    try:
        for member, rel in zip(members, manifest.ensemble.members, strict=True):
            directory = staging / rel
            directory.mkdir(parents=True)
            scorer.save_model(member, directory)
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2) + '\n', encoding='utf-8')
        if as_directory:
            if path.exists():
                if not (path / MANIFEST).is_file():
                    raise ExamolError(f'{path} exists and is not a model directory; refusing to replace it')
                shutil.rmtree(path)
            os.replace(staging, path)
        else:
            if path.is_dir():
                raise ExamolError(f'{path} is a directory; give a file name for the model (or use as_directory)')
            fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
            os.close(fd)
            try:
                with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_DEFLATED) as zf:
                    zf.write(staging / MANIFEST, MANIFEST)  # first, so readers find it quickly
                    for file in sorted(staging.rglob('*')):
                        if file.is_file() and file != staging / MANIFEST:
                            zf.write(file, file.relative_to(staging).as_posix())
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _parse_manifest(text: str, path: Path) -> ModelManifest:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise IncompatibleVersionError(f'{path}: manifest.json is not valid JSON ({exc}); the file is damaged') from exc
    if not isinstance(data, dict) or data.get('format') != FORMAT_NAME:
        found = data.get('format') if isinstance(data, dict) else type(data).__name__
        raise IncompatibleVersionError(f'{path} is not an examol model file: its manifest declares format {found!r}, '
                                       f'expected {FORMAT_NAME!r}')
    version = data.get('format_version')
    if not isinstance(version, int) or version < 1:
        raise IncompatibleVersionError(f'{path}: invalid format_version {version!r} in manifest.json')
    if version > FORMAT_VERSION:
        raise IncompatibleVersionError(
            f'{path} uses model-file format version {version} (written by examol-core '
            f'{data.get("examol_core_version", "?")}); this examol-core {_core_version()} reads versions up to '
            f'{FORMAT_VERSION}. Upgrade examol-core to load it.')
    try:
        return ModelManifest.model_validate(data)
    except ValidationError as exc:
        raise IncompatibleVersionError(f'{path}: manifest.json is incomplete or malformed: {exc}') from exc


def read_manifest(path: str | os.PathLike) -> ModelManifest:
    """Read and check the manifest of a model file without loading any plugin or payload.

    Raises:
        FileNotFoundError: no such file.
        IncompatibleVersionError: not a model file, damaged, or written in a newer format.
    """
    path = Path(path)
    if path.is_dir():
        file = path / MANIFEST
        if not file.is_file():
            raise IncompatibleVersionError(f'{path} is a directory without manifest.json: not an examol model')
        return _parse_manifest(file.read_text(encoding='utf-8'), path)
    if not path.exists():
        raise FileNotFoundError(f'No model file at {path}')
    if not zipfile.is_zipfile(path):
        raise IncompatibleVersionError(f'{path} is not an examol model file (expected a zip archive with manifest.json)')
    with zipfile.ZipFile(path) as zf:
        try:
            text = zf.read(MANIFEST).decode('utf-8')
        except KeyError:
            raise IncompatibleVersionError(f'{path} is a zip archive without manifest.json: not an examol model') from None
    return _parse_manifest(text, path)


def _safe_extract(zf: zipfile.ZipFile, target: Path, path: Path) -> None:
    root = target.resolve()
    for info in zf.infolist():
        name = info.filename
        dest = (target / name).resolve()
        if name.startswith(('/', '\\')) or '..' in Path(name).parts or not dest.is_relative_to(root):
            raise IncompatibleVersionError(f'{path}: refusing to extract {name!r}, which points outside the archive')
    zf.extractall(target)


def _version_key(version: str) -> tuple[str, ...]:
    return tuple(version.split('.')[:2])


def load_model_file(path: str | os.PathLike) -> SavedModel:
    """Load a model file: check the manifest, rebuild the scorer, and load each member (steering side).

    Raises:
        FileNotFoundError: no such file.
        IncompatibleVersionError: not a model file, written in a newer format, or a payload the
            installed plugin cannot read.
        UnknownPluginError: the scorer plugin that wrote the model is not installed.
    """
    from examol_core.plugins import available_scorers, load_errors_note, load_scorer

    path = Path(path)
    manifest = read_manifest(path)
    name = manifest.scorer.name
    scorers = available_scorers()
    if name not in scorers:
        dist = manifest.plugin.distribution or f'the plugin providing {name!r}'
        msg = (f'{path} was saved by scorer {name!r} from {dist} {manifest.plugin.version}, which is not installed '
               f'(installed scorers: {", ".join(sorted(scorers)) or "none"}). Install it (for example '
               f'`pip install {dist}`) to load this model.')
        raise UnknownPluginError(msg + load_errors_note())
    spec = scorers[name]
    if manifest.plugin.version and spec.version and _version_key(spec.version) != _version_key(manifest.plugin.version):
        warnings.warn(f'{path} was saved with {manifest.plugin.distribution} {manifest.plugin.version}; '
                      f'{spec.distribution} {spec.version} is installed. Loading may fail or give different results.',
                      stacklevel=2)
    try:
        scorer = load_scorer(name, **manifest.scorer.options)
    except TypeError as exc:
        raise IncompatibleVersionError(f'{path}: cannot rebuild scorer {name!r} with the saved options '
                                       f'{manifest.scorer.options}: {exc}') from exc

    def _load_all(root: Path) -> list[Any]:
        members = []
        for i, rel in enumerate(manifest.ensemble.members):
            directory = root / rel
            if not directory.is_dir():
                raise IncompatibleVersionError(f'{path}: ensemble member {i} ({rel}) is missing; the file is damaged')
            try:
                members.append(scorer.load_model(directory))
            except ExamolError:
                raise
            except Exception as exc:
                raise IncompatibleVersionError(
                    f'{path}: scorer {name!r} ({spec.distribution} {spec.version}) could not read member {i} saved '
                    f'with {manifest.plugin.distribution} {manifest.plugin.version}: {type(exc).__name__}: {exc}'
                ) from exc
        return members

    if path.is_dir():
        members = _load_all(path)
    else:
        with tempfile.TemporaryDirectory(prefix='examol-model-') as tmp, zipfile.ZipFile(path) as zf:
            _safe_extract(zf, Path(tmp), path)
            members = _load_all(Path(tmp))
    if len(members) != manifest.ensemble.size:
        raise IncompatibleVersionError(f'{path}: manifest declares {manifest.ensemble.size} members, '
                                       f'found {len(members)}')
    return SavedModel(manifest=manifest, scorer=scorer, members=members, path=path)
