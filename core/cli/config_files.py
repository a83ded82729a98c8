"""``--config FILE.toml``: a command's settings from a file, the options typed on the command
line over them (docs/config-files.md).

The file is read into the command's frozen configs by
:func:`~fourier_masks.core.configs.config_from_dict` (unknown keys, wrong types and refused
values named with the file and the key's dotted name); an option overrides the file only when
the user typed it, which the parser records (``args.typed``,
:meth:`~.parser._Parser.parse_known_args`): an option left at its default keeps the file's
value."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..attacks.adversarial import AttackConfig
from ..beyond.profile import ProfileConfig
from ..configs import ConfigFileError, config_from_dict, read_settings_file
from ..masks.config import ImageMaskConfig, SetMaskConfig
from .options import given

C = TypeVar("C")


def add_config(parser: argparse.ArgumentParser, what: str) -> None:
    """``--config FILE``, whose settings the options typed on the command line override."""
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        type=given("a .toml settings file"),
        help=f"{what}; options typed here override the file's settings (docs/config-files.md)",
    )


def typed(args: argparse.Namespace, dest: str) -> bool:
    """Whether the user typed the option stored as ``dest``; every option counts as typed for
    arguments not made by the command line's parser (no record)."""
    record = getattr(args, "typed", None)
    return True if record is None else dest in record


def if_typed(args: argparse.Namespace, dest: str) -> Any:
    """The option's value when the user typed it, else None (the file's or preset's value stays)."""
    return getattr(args, dest) if typed(args, dest) else None


# ``masks``: the tables of its file, each the config of one kind of mask.
MASK_TABLES: dict[str, type] = {"set_mask": SetMaskConfig, "image_mask": ImageMaskConfig, "attack": AttackConfig}


@dataclass(frozen=True)
class SettingsFile:
    """A ``--config`` file's tables, checked against the configs they become."""

    path: str
    tables: Mapping[str, Mapping[str, Any]]

    def config(self, name: str, cls: type[C], base: C) -> C:
        """Table ``name`` as a ``cls`` config over ``base`` (``base`` itself when the file lacks it)."""
        if name not in self.tables:
            return base
        return config_from_dict(cls, self.tables[name], base=base, where=self.path, section=name)


def masks_file(args: argparse.Namespace) -> SettingsFile | None:
    """``masks --config``: tables ``set_mask`` (set and class masks), ``image_mask`` (per-image
    masks) and ``attack`` (the PGD of ``--adversarial``); one file may hold all three, each
    kind of mask reading its own. None without ``--config``."""
    if args.config is None:
        return None
    raw = read_settings_file(args.config)
    for key, value in raw.items():
        if key not in MASK_TABLES:
            raise ConfigFileError(f"{args.config}: unknown key {key}; known keys: {', '.join(MASK_TABLES)}")
        if not isinstance(value, Mapping):
            raise ConfigFileError(f"{args.config}: {key} should be a table ([{key}]), not a single value")
    return SettingsFile(args.config, raw)


def profile_config(args: argparse.Namespace, base: ProfileConfig) -> ProfileConfig:
    """``profile --config``: :class:`ProfileConfig`'s fields over ``base`` (``base`` without ``--config``)."""
    if args.config is None:
        return base
    return config_from_dict(ProfileConfig, read_settings_file(args.config), base=base, where=args.config)
