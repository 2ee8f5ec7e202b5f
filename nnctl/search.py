"""Search spaces beyond the grid: ``--dist KEY=SPEC`` distributions and ``--sample N`` points drawn from them.

A space is one ``Dist`` per searched key, in the order given: a ``--grid`` key is a choice among its values,
a ``--dist`` key one of ``KINDS``. Every spec is checked against the config (both ends of a range, every
choice) before anything runs, as ``--grid`` values are. ``nnctl/tpe.py`` searches the same space with Optuna.
"""
from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass

from . import config as config_mod
from . import seeding
from .errors import ConfigError
from .sweep import _override, parse_grid
from .text import shown

KINDS = {  # name -> what follows it in a spec
    "loguniform": "LOW:HIGH",  # log-uniform floats, 0 < LOW < HIGH
    "uniform": "LOW:HIGH",     # uniform floats
    "int": "LOW:HIGH",         # uniform integers, both ends included
    "intlog": "LOW:HIGH",      # integers, log-uniform, 1 ≤ LOW
    "choice": "V1,V2,…",       # one of the values (YAML, as --grid's)
}
DIGITS = 3  # significant digits a drawn float keeps, so that its run name, its table cell and its config agree
MISSES = 1000  # draws in a row that found only points already drawn: the space has no more
EXAMPLE = "e.g. --dist train.alpha=loguniform:1e-4:1"


@dataclass(frozen=True)
class Dist:
    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    values: tuple = ()  # choice

    @property
    def spec(self):
        if self.kind == "choice":
            return f"choice:{','.join(json.dumps(v) for v in self.values)}"
        return f"{self.kind}:{self.low}:{self.high}"

    def size(self):
        """How many values it can take; ``None`` for a float range."""
        if self.kind == "choice":
            return len(self.values)
        return self.high - self.low + 1 if self.kind in ("int", "intlog") else None

    def every(self):
        return list(self.values) if self.kind == "choice" else list(range(self.low, self.high + 1))

    def draw(self, rng):
        """One value drawn with the ``numpy.random.Generator`` ``rng``."""
        if self.kind == "choice":
            return copy.deepcopy(self.values[rng.integers(len(self.values))])
        if self.kind == "int":
            return int(rng.integers(self.low, self.high, endpoint=True))
        if self.kind == "intlog":  # as Optuna's: log-uniform over [LOW - ½, HIGH + ½], rounded
            x = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
            return min(max(round(x), self.low), self.high)
        if self.kind == "loguniform":
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            x = rng.uniform(self.low, self.high)
        return min(max(float(f"{x:.{DIGITS}g}"), self.low), self.high)


def parse_dist(text):
    """``"train.alpha=loguniform:1e-4:1"`` → ``Dist``; a ``ConfigError`` naming the option for a bad spec."""
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise ConfigError(f"--dist {shown(text)}: expected KEY=SPEC, {EXAMPLE}")
    where = f"--dist {config_mod.show_key(key)}"
    kind, _, args = spec.partition(":")
    if kind not in KINDS:
        known = ", ".join(f"{k}:{a}" for k, a in KINDS.items())
        raise ConfigError(f"{where}: unknown distribution {shown(kind)}; use one of {known}")
    if kind == "choice":
        if not args.strip():
            raise ConfigError(f"{where}: choice needs values, e.g. choice:[8],[16],[8,8]")
        values = config_mod.parse_yaml(f"[{args}]", f"{where}: choice values")
        return Dist(key, kind, values=_unique(values))
    parts = args.split(":")
    if len(parts) != 2:
        raise ConfigError(f"{where}: {kind} needs {KINDS[kind]}, got {shown(spec)}")
    number = int if kind in ("int", "intlog") else float
    try:
        low, high = (number(p.strip()) for p in parts)
    except ValueError:
        raise ConfigError(f"{where}: {kind}:{KINDS[kind]} needs two {'integers' if number is int else 'numbers'}, "
                          f"got {shown(spec)}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ConfigError(f"{where}: {kind} needs finite LOW < HIGH, got {shown(spec)} (one value: use --set)")
    if kind == "loguniform" and low <= 0 or kind == "intlog" and low < 1:
        raise ConfigError(f"{where}: {kind} needs LOW {'> 0' if kind == 'loguniform' else '≥ 1'}, got {shown(spec)}")
    return Dist(key, kind, low, high)


def _unique(values):
    """The values without repeats (a value given twice would be a point drawn twice), in the order given."""
    unique = {}
    for v in values:
        unique.setdefault(json.dumps(v), v)
    return tuple(unique.values())


def space(config_path, grids=(), dists=(), overrides=()):
    """The searched keys' ``Dist``s, ``--grid`` ones first; each key once, none also given with ``--set``, and
    every choice and both ends of every range valid in the config (``ConfigError`` otherwise)."""
    out = [Dist(key, "choice", values=_unique(values)) for key, values in map(parse_grid, grids)]
    out += [parse_dist(text) for text in dists]
    given, fixed = {}, {config_mod.parse_override(o)[0] for o in overrides}  # key -> the option that gave it
    for d, option in zip(out, ["--grid"] * len(grids) + ["--dist"] * len(dists)):
        if d.key in given:
            other = given[d.key]
            also = (f"also given with {other}; keep one" if other != option else "given more than once; give it once"
                    if option == "--dist" else "given more than once; list all its values in one --grid")
            raise ConfigError(f"{option} {d.key}: {also}")
        if d.key in fixed:
            raise ConfigError(f"{option} {d.key}: also given with --set; keep one")
        given[d.key] = option
        _check(config_path, overrides, d, option)
    return out


def _check(config_path, overrides, d, option):
    """Every value of a choice and both ends of a range, resolved with the config (a range's checks are
    intervals, so its ends stand for all of it)."""
    for value in (d.values if d.kind == "choice" else (d.low, d.high)):
        try:
            config_mod.load(config_path, [*overrides, _override(d.key, value)])
        except ConfigError as exc:
            message = str(exc).replace(f"--set {d.key}", f"{option} {d.key}", 1)
            if option == "--dist" and d.kind != "choice":
                message = message.replace(f"--dist {d.key}:", f"--dist {d.key}={d.spec}:", 1)
            raise ConfigError(message) from None


def sample(space_, n, seed):
    """``n`` distinct points (tuples, one value per key) drawn with ``seed``, in the order drawn. A space of
    at most ``n`` points (grid values, choices and integers only) gives every point once, in grid order; one
    that yields no new point in ``MISSES`` draws (a narrow range at ``DIGITS`` digits) gives fewer than ``n``."""
    sizes = [d.size() for d in space_]
    if None not in sizes and math.prod(sizes) <= n:
        return list(itertools.product(*(d.every() for d in space_)))
    rng = seeding.rng(seed, "sample")
    points, seen, misses = [], set(), 0
    while len(points) < n and misses < MISSES:
        point = tuple(d.draw(rng) for d in space_)
        marker = json.dumps(point)
        if marker in seen:  # a point drawn twice would train the same run twice
            misses += 1
            continue
        seen.add(marker)
        points.append(point)
        misses = 0
    return points


def sample_points(config_path, grids, dists, overrides, n, seed=None):
    """``(keys, points, seed)`` for ``--sample n``: the seed is ``seed``, else the config's ``seed``."""
    space_ = space(config_path, grids, dists, overrides)
    if seed is None:
        seed = config_mod.load(config_path, overrides)["seed"]
    return [d.key for d in space_], sample(space_, n, seed), seed
