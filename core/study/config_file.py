"""A study's settings from a file: a ``.toml`` settings file, or a run's ``run.json`` to make
the same study again (docs/config-files.md).

A TOML file holds :class:`~.config.StudyConfig`'s fields (nested tables for ``train``,
``set_mask``, ``image_mask`` and ``attack``) and optionally ``preset``, the preset the keys
it lacks come from (default ``standard``). A ``run.json`` holds the settings its study ran
with (``study``), complete: rerunning them on the same data and seed gives the same tables."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configs import ConfigFileError, config_from_dict, read_settings_file
from ..errors import ConfigError
from ..models.zoo import is_model_name
from ..runs.manifest import RUN_FORMAT, read_manifest
from ..runs.store import model_file
from .config import STUDY_PRESETS, StudyConfig, given_models, study_config

RUN_FILE = "run.json"


@dataclass(frozen=True)
class StudyFile:
    """The settings a file gives: ``config``, and ``keys``, the :class:`StudyConfig` fields it
    set itself (a run's ``run.json`` sets them all); ``run``: the run folder whose study it
    replays (None for a TOML file); ``notes``: what was changed to replay it here (a given
    model taken from the run's own copy), one line each."""

    config: StudyConfig
    keys: frozenset[str]
    run: Path | None = None
    notes: tuple[str, ...] = ()


def read_study_file(path: str | Path, preset: str | None = None) -> StudyFile:
    """The study settings in ``path``: a ``.toml`` file, a run's ``run.json``, or a run folder
    (its ``run.json``). ``preset`` (one of :data:`STUDY_PRESETS`) replaces the file's own
    ``preset``; a run's settings are complete, so it cannot take one.
    :class:`ConfigFileError` names the file and what is wrong."""
    path = Path(path)
    if path.is_dir() and (path / RUN_FILE).is_file():
        path = path / RUN_FILE
    raw = read_settings_file(path)
    if raw.get("format") == RUN_FORMAT:
        if preset is not None:
            raise ConfigFileError(
                f"{path} is a run's complete settings; a preset does not apply to it (leave the preset out)"
            )
        return _replay(path)
    return _from_table(path, raw, preset)


# Training settings the study sets for each model, and the study settings that say them.
SET_PER_MODEL = {"arch": "arch", "augmentation": "augmentations", "seed": "seed"}


def _from_table(path: Path, raw: dict[str, Any], preset: str | None) -> StudyFile:
    table = dict(raw)
    own = table.pop("preset", None)
    train = table.get("train")
    for key, instead in SET_PER_MODEL.items():
        if isinstance(train, dict) and key in train:  # it would be silently replaced
            raise ConfigFileError(
                f"{path}: train.{key} is set by the study for each model from {instead}; set {instead} instead"
            )
    if own is not None and own not in STUDY_PRESETS:
        raise ConfigFileError(f"{path}: preset should be one of {', '.join(STUDY_PRESETS)}, not {own!r}")
    pairs: Any = table.get("given_models")
    if _pairs(pairs) and "augmentations" not in table:
        # The models' codes say the augmentations (N = none, A = adversarial, ...), as on the command line.
        try:
            chosen = given_models([(code, spec) for code, spec in pairs])
        except ConfigError as exc:
            raise ConfigFileError(f"{path}: given_models: {exc}") from None
        table["given_models"] = [list(pair) for pair in chosen["given_models"]]
        table["augmentations"] = list(chosen["augmentations"])
    config = config_from_dict(StudyConfig, table, base=study_config(preset or own or "standard"), where=str(path))
    return StudyFile(config=config, keys=frozenset(table))


def _pairs(value: Any) -> bool:
    """Whether ``value`` is a list of [code, model] pairs (else the converter names what is wrong)."""
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair) for pair in value
    )


def _replay(path: Path) -> StudyFile:
    manifest = read_manifest(path)  # checked as every run.json is: format, version, field types
    if manifest.study is None:
        raise ConfigFileError(
            f"{path} records no study settings (a study did not make that run); give a study's run.json "
            "or a .toml settings file"
        )
    # A setting added since the run was made counts as its default, as a resumed study does.
    config = config_from_dict(StudyConfig, manifest.study, where=str(path), section="study")
    run = path.parent
    given, notes = [], []
    for code, spec in config.given_models:
        kept = model_file(run, code)
        if not is_model_name(spec) and not Path(spec).exists() and kept.is_file():
            given.append((code, str(kept)))
            notes.append(f"model {code}: {spec} is not here; using the run's copy, {kept}")
        else:
            given.append((code, spec))
    if notes:
        config = dataclasses.replace(config, given_models=tuple(given))
    return StudyFile(config=config, keys=frozenset(manifest.study), run=run, notes=tuple(notes))
