"""Named choices: every kind of choice (activation, init, scaler, optimizer, schedule, source…) is one
table in the module that owns it, ``name → implementation``. The config's schema reads the names from
those tables, and an unknown name gets the same error wherever it is met."""
from __future__ import annotations

from .errors import ConfigError


def names(table):
    return ", ".join(table)


def pick(table, name, what):
    """``table[name]``; an unknown ``name`` is a ``ConfigError``: ``<what>: must be one of a, b, c, got 'x'``."""
    try:
        return table[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name, e.g. a list
        raise ConfigError(f"{what}: must be one of {names(table)}, got {name!r}") from None
