"""Settings read from files: a TOML or JSON file, and a nested table made into a frozen config
dataclass (:func:`config_from_dict`).

One converter for every config (the study's, the masks', the profile's), so a settings file
is read the same way wherever it is given, by the command line or, later, the app. It is
strict because a file is typed once and run for hours: a misspelt key (``max_stepz``) that
were silently ignored would run the published 20 000 steps instead of the 20 meant, so an
unknown key is refused with its full dotted name and the keys its table knows; a value of the
wrong type (``epochs = "10"``) is refused naming the key, the type expected and the value;
and every value then goes through the config's own checks (``__post_init__``), whose message
is prefixed with the file and the table. Lists become tuples, whole numbers are taken where a
real number is expected (``lr = 1``), and a table missing a key keeps the base config's value
(a preset's, or the published default)."""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the tomli backport (tomli>=2; python_version<'3.11')
    import tomli as tomllib

__all__ = ["ConfigFileError", "config_from_dict", "read_settings_file"]

C = TypeVar("C")

SHOWN = 60  # characters of a refused value quoted in a message


class ConfigFileError(ConfigError):
    """A settings file that cannot be read, or holds a key, type or value its config refuses;
    the message starts with the file."""


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """The table at the top of a ``.toml`` or ``.json`` settings file; :class:`ConfigFileError`
    naming the file when it is missing, unreadable, not valid TOML/JSON, or not a table."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigFileError(f"{path}: settings files are .toml (or a run's run.json); rename it or give another")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigFileError(f"{path} is a folder; give a .toml settings file or a run's run.json") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ConfigFileError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        raw = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        kind = "TOML" if suffix == ".toml" else "JSON"
        raise ConfigFileError(f"{path} is not valid {kind} ({_one_line(exc)}); fix it there") from None
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path} holds {_kind(raw)}, not a table of settings")
    return raw


def config_from_dict(
    cls: type[C], raw: Mapping[str, Any], *, base: C | None = None, where: str = "", section: str = ""
) -> C:
    """``raw`` (a file's table) as a ``cls`` config, checked.

    ``base``: the config whose values the keys ``raw`` lacks keep (a preset; default: the
    class's own defaults). Nested tables become nested configs over ``base``'s. ``where`` (the
    file) and ``section`` (the dotted name of this table in it) start every message.
    :class:`ConfigFileError` names the first unknown key, wrong type or refused value."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(raw, Mapping):
        raise ConfigFileError(f"{_at(where)}{section or 'the file'} should be a table, not {_kind(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    unknown = [key for key in raw if key not in fields]
    if unknown:
        key = str(unknown[0])
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f" (did you mean {_dotted(section, close[0])}?)" if close else ""
        known_of = f"known keys of {section}" if section else "known keys"
        raise ConfigFileError(f"{_at(where)}unknown key {_dotted(section, key)}{hint}; {known_of}: {', '.join(fields)}")
    changes = {
        key: _value(hints[key], value, _dotted(section, key), where, None if base is None else getattr(base, key))
        for key, value in raw.items()
    }
    try:
        made = dataclasses.replace(base, **changes) if base is not None else cls(**changes)  # type: ignore[type-var]
    except ConfigFileError:
        raise
    except ConfigError as exc:  # the config's own check of the values together
        raise ConfigFileError(f"{_at(where)}{section + ': ' if section else ''}{exc}") from None
    return made


def _value(hint: Any, value: Any, key: str, where: str, base: Any) -> Any:
    """``value`` of ``key`` as the type ``hint`` says, or :class:`ConfigFileError`."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, Mapping):
            _refuse(where, key, "a table", value)
        return config_from_dict(hint, value, base=base, where=where, section=key)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _value(option, value, key, where, base)
            except ConfigFileError:
                continue
        _refuse(where, key, " or ".join(_expected(o) for o in args), value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            _refuse(where, key, _expected(hint), value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], item, f"{key}[{i}]", where, None) for i, item in enumerate(value))
        if len(value) != len(args):
            _refuse(where, key, _expected(hint), value)
        return tuple(_value(a, item, f"{key}[{i}]", where, None) for i, (a, item) in enumerate(zip(args, value)))
    if hint is bool:
        if not isinstance(value, bool):
            _refuse(where, key, "true or false", value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _refuse(where, key, "a whole number", value)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _refuse(where, key, "a number", value)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            _refuse(where, key, "a string", value)
        return value
    if hint is Any:
        return value
    raise TypeError(f"{key}: settings files do not handle the type {hint!r}")


def _expected(hint: Any) -> str:
    """The type ``hint`` as a message names it to someone writing a file."""
    if hint is type(None):
        return "null"
    if dataclasses.is_dataclass(hint):
        return "a table"
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} {_plural(args[0]) if len(set(args)) == 1 else 'values'}"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(hint, str(hint))


def _plural(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return "lists"
    return {bool: "booleans", int: "whole numbers", float: "numbers", str: "strings"}.get(hint, "values")


def _refuse(where: str, key: str, expected: str, value: Any) -> typing.NoReturn:
    try:
        shown = json.dumps(value, ensure_ascii=False)  # as the file writes it: true, "2", [1]
    except (TypeError, ValueError):  # a TOML date or time
        shown = str(value)
    shown = shown if len(shown) <= SHOWN else shown[: SHOWN - 1] + "…"
    raise ConfigFileError(f"{_at(where)}{key} should be {expected}, not {_kind(value)} ({shown})")


def _kind(value: Any) -> str:
    """A file value's type as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__  # a TOML date or time


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
