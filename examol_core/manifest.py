"""The manifest of a model file (``manifest.json``), checked as hostile input.

A model file may come from anyone. Every name the manifest holds (scorer, model, plugin
distribution and version, recipes, ensemble member folders) is checked against a strict pattern
here, before it can reach a message, a path or a plugin; a field that fails is named, its value
is not echoed. Option *values* and the free-form ``training`` facts are JSON kept as they are:
messages never quote them. Runs on the steering side, without importing any plugin.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from examol_core.errors import IncompatibleVersionError

FORMAT_NAME = 'examol-model'
FORMAT_VERSION = 1
"""Version of the layout and manifest this examol-core writes; it reads this version and older."""

MANIFEST = 'manifest.json'

__all__ = ['FORMAT_NAME', 'FORMAT_VERSION', 'MANIFEST', 'ModelManifest', 'ScorerInfo', 'PluginInfo', 'ModelInfo',
           'EnsembleInfo', 'parse_manifest']

_NAME = re.compile(r'[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?')
_VERSION = re.compile(r'[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}')
_RECIPE = re.compile(r'[A-Za-z0-9_]{1,64}/[A-Za-z0-9_.+-]{1,128}')
_PART = re.compile(r'[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}')
_TIMESTAMP = re.compile(r'[0-9T:.+Z -]{0,40}')


def _matching(pattern: re.Pattern[str], what: str, empty: bool = False):
    def check(value: str) -> str:
        if (empty and value == '') or pattern.fullmatch(value):
            return value
        raise ValueError(f'is not {what}')
    return AfterValidator(check)


def _options(value: dict[str, Any]) -> dict[str, Any]:
    bad = [i for i, key in enumerate(value) if not key.isidentifier()]
    if bad:
        raise ValueError(f'option name number {bad[0] + 1} is not a Python identifier')
    return value


def _member_path(value: str) -> str:
    parts = value.split('/')
    if not 1 <= len(parts) <= 4 or not all(_PART.fullmatch(p) for p in parts):
        raise ValueError('is not a relative path inside the model file (folder names of letters, digits, . _ -)')
    return value


Name = Annotated[str, _matching(_NAME, 'a plain name (letters, digits, . _ -; at most 64 characters)')]
Version = Annotated[str, _matching(_VERSION, 'a version number', empty=True)]
Distribution = Annotated[str, _matching(_NAME, 'a package name (letters, digits, . _ -)', empty=True)]
RecipeSpec = Annotated[str, _matching(_RECIPE, 'a recipe NAME/LEVEL')]
Options = Annotated[dict[str, Any], AfterValidator(_options)]
MemberPath = Annotated[str, AfterValidator(_member_path)]


class _Part(BaseModel):
    model_config = ConfigDict(extra='allow')


class ScorerInfo(_Part):
    name: Name
    options: Options = Field(default_factory=dict)


class PluginInfo(_Part):
    distribution: Distribution = ''
    version: Version = ''


class ModelInfo(_Part):
    name: Name | None = None
    options: Options = Field(default_factory=dict)


class EnsembleInfo(_Part):
    size: int = Field(ge=1, le=10_000)
    bootstrap: bool = False
    members: list[MemberPath]


class ModelManifest(_Part):
    """Contents of ``manifest.json``; unknown keys are kept, so newer minor additions still load."""

    format: str
    format_version: int
    examol_core_version: Version
    created: Annotated[str, _matching(_TIMESTAMP, 'a timestamp')]
    scorer: ScorerInfo
    plugin: PluginInfo = Field(default_factory=PluginInfo)
    model: ModelInfo = Field(default_factory=ModelInfo)
    recipe: RecipeSpec | None = None
    lower_recipes: list[RecipeSpec] = Field(default_factory=list)
    ensemble: EnsembleInfo
    training: dict[str, Any] = Field(default_factory=dict)


def _problems(exc: ValidationError) -> str:
    """What is wrong, field by field, without the values (which may be hostile)."""
    out = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = '.'.join(str(p) for p in error['loc']) or 'manifest'
        out.append(f'{where} {error["msg"].removeprefix("Value error, ")}')
    return '; '.join(out)


def _core_version() -> str:
    from examol_core import __version__

    return __version__


def parse_manifest(raw: bytes, path: Path) -> ModelManifest:
    """Check and parse the bytes of ``manifest.json`` from the model file at ``path``.

    Raises:
        IncompatibleVersionError: not UTF-8 JSON, another format, a newer format version, or a
            field that is missing or fails its check (named, without its value).
    """
    try:
        data = json.loads(raw.decode('utf-8'))
    except UnicodeDecodeError as exc:
        raise IncompatibleVersionError(f'{path}: manifest.json is not UTF-8 text ({exc.reason} at byte {exc.start}); '
                                       'the file is damaged or not an examol model') from None
    except ValueError as exc:
        raise IncompatibleVersionError(f'{path}: manifest.json is not valid JSON ({exc}); the file is damaged') from None
    if not isinstance(data, dict) or data.get('format') != FORMAT_NAME:
        found = data.get('format') if isinstance(data, dict) else type(data).__name__
        shown = repr(found)[:40] if isinstance(found, str) and found.isprintable() else 'something else'
        raise IncompatibleVersionError(f'{path} is not an examol model file: its manifest declares format {shown}, '
                                       f'expected {FORMAT_NAME!r}')
    version = data.get('format_version')
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise IncompatibleVersionError(f'{path}: invalid format_version in manifest.json (expected a positive integer)')
    if version > FORMAT_VERSION:
        writer = data.get('examol_core_version')
        writer = writer if isinstance(writer, str) and _VERSION.fullmatch(writer) else '?'
        raise IncompatibleVersionError(
            f'{path} uses model-file format version {version} (written by examol-core {writer}); this examol-core '
            f'{_core_version()} reads versions up to {FORMAT_VERSION}. Upgrade examol-core to load it.')
    try:
        manifest = ModelManifest.model_validate(data)
    except ValidationError as exc:
        raise IncompatibleVersionError(f'{path}: manifest.json is incomplete or malformed: {_problems(exc)}') from None
    if len(manifest.ensemble.members) != manifest.ensemble.size:
        raise IncompatibleVersionError(f'{path}: manifest.json declares {manifest.ensemble.size} ensemble members but '
                                       f'lists {len(manifest.ensemble.members)}')
    if len(set(manifest.ensemble.members)) != len(manifest.ensemble.members):
        raise IncompatibleVersionError(f'{path}: manifest.json lists an ensemble member folder twice')
    return manifest
