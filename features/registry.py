"""The one explicit registry of feature calculators.

Each calculator is a plain function ``func(track: FaceTrack) -> dict`` that
carries metadata (:class:`Calculator`): its family, its cost, whether it runs
on the GPU, whether it needs the dense window of consecutive frames.

A calculator returns ``{feature_name: value}`` where each value is either

* a per-frame array of shape ``(T,)`` (one value per sampled frame), which
  :func:`features.aggregate.aggregate_values` reduces to the statistics
  ``mean, std, q10, q50, q90``; or
* a scalar (0-d), a track-level value, kept as the statistic ``value``.

Columns are named ``family__feature__stat`` and parse back with
:func:`parse_column`, so importance reports can group by family.

Named feature sets are filters over this registry (tsfresh style):
``all``; ``fast`` (every calculator whose cost is below ``EXPENSIVE``); a
family name; or a comma-separated list of those.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

__all__ = [
    "Calculator",
    "CHEAP",
    "MODERATE",
    "EXPENSIVE",
    "FAMILY_MODULES",
    "all_calculators",
    "all_maps",
    "families",
    "select",
    "column_name",
    "parse_column",
    "family_of",
    "describe_column",
    "STAT_PHRASES",
]

CHEAP, MODERATE, EXPENSIVE = 1, 2, 3
SEP = "__"

#: Every family module; each defines ``CALCULATORS``, a list of :class:`Calculator`, and may define
#: ``MAPS``, a list of :class:`features.maps.MapSpec` (the spatial maps its explanations show).
#: This tuple is the registry's single source: add a family by adding its module here.
FAMILY_MODULES = (
    "features.meta",
    "features.spectral",
    "features.wavelet",
    "features.temporal",
    "features.blending",
    "features.prnu",
    "features.quality",
    "features.context",
    "features.colour",
    "features.av",
)


@dataclass(frozen=True)
class Calculator:
    """A feature calculator and its metadata.

    Attributes
    ----------
    family : str
        Feature family (``spectral``, ``prnu``...); the first part of column names.
    name : str
        Short name, unique in its family.
    func : callable
        ``func(track) -> {feature: per-frame (T,) array or scalar}``.
    cost : int
        ``CHEAP``, ``MODERATE`` or ``EXPENSIVE``; ``--features fast`` drops ``EXPENSIVE``.
    gpu : bool
        True when the function runs on the track's device arrays (CuPy) unchanged; False runs it on
        :meth:`~features.track.FaceTrack.on_host` when the pipeline uses a GPU.
    needs_dense : bool
        True when it reads ``track.dense`` (the window of consecutive frames);
        the pipeline decodes that window only when a selected calculator needs it.
    needs_audio : bool
        True when it reads ``track.dense.audio`` (the soundtrack under the dense window); the pipeline
        reads the audio only when a selected calculator needs it.
    description : str
        One line for reports: what the calculator measures.
    features : dict
        ``{feature name: plain-language phrase}`` for every feature the function returns, a noun phrase
        a forensic analyst can read (``"peakedness of fine diagonal wavelet detail"``);
        :func:`describe_column` adds what the statistic over frames means.
    version : int
        Bump when the function's output changes; cached features of older versions are recomputed.
    in_all : bool
        False keeps the calculator out of the named sets ``all`` and ``fast`` (name its family to add it):
        for a family measured but not yet in a shipped model, so that ``all`` in a shipped model card's
        command still means the calculators that trained it.
    """

    family: str
    name: str
    func: Callable
    cost: int = CHEAP
    gpu: bool = True
    needs_dense: bool = False
    needs_audio: bool = False
    description: str = ""
    version: int = 1
    in_all: bool = True
    features: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        for part in (self.family, self.name):
            if SEP in part or not part:
                raise ValueError(f"calculator names may not be empty or contain {SEP!r}: {part!r}")

    @property
    def key(self) -> str:
        return f"{self.family}.{self.name}"


def all_calculators() -> list[Calculator]:
    """Every registered calculator, in registry order."""
    out: list[Calculator] = []
    seen = set()
    for mod in FAMILY_MODULES:
        for calc in importlib.import_module(mod).CALCULATORS:
            if calc.key in seen:
                raise ValueError(f"duplicate calculator {calc.key}")
            seen.add(calc.key)
            out.append(calc)
    return out


def all_maps() -> list:
    """Every family's explanation maps (:class:`features.maps.MapSpec`), in registry order."""
    return [m for mod in FAMILY_MODULES for m in getattr(importlib.import_module(mod), "MAPS", [])]


def families() -> list[str]:
    """Family names in registry order."""
    return list(dict.fromkeys(c.family for c in all_calculators()))


def select(spec: str = "all") -> list[Calculator]:
    """Calculators named by ``spec``: ``all``, ``fast``, family names, comma-separated.

    A name prefixed with ``-`` removes that family (``all,-meta``: every family but ``meta``).
    ``all`` and ``fast`` leave out the calculators that need audio (``needs_audio``: the ``av`` family) and those
    marked ``in_all=False`` (the ``context`` family, which the shipped model names as ``all,context``; the
    ``colour`` family and ``temporal.mouth``, measured and not shipped); name the family to add it (``all,av``,
    ``all,context``). Where only some clips carry audio, those calculators' NaNs tell
    a model which clips have a soundtrack, and in the training pool that tells sources apart, not fakes.
    Raises ``ValueError`` for an unknown name, listing the valid ones.
    """
    calcs = all_calculators()
    known = families()
    parts = [p.strip() for p in (spec or "all").split(",") if p.strip()]
    dropped = {p[1:].strip() for p in parts if p.startswith("-")}
    unknown = sorted(dropped - set(known))
    if unknown:
        raise ValueError(f"unknown feature family {unknown[0]!r} after '-'; choose from {', '.join(known)}")
    parts = [p for p in parts if not p.startswith("-")] or ["all"]
    wanted: list[Calculator] = []
    for part in parts:
        if part == "all":
            chosen = [c for c in calcs if not c.needs_audio and c.in_all]
        elif part == "fast":
            chosen = [c for c in calcs if c.cost < EXPENSIVE and not c.needs_audio and c.in_all]
        elif part in known:
            chosen = [c for c in calcs if c.family == part]
        else:
            raise ValueError(f"unknown feature set {part!r}; choose from all, fast, {', '.join(known)}")
        wanted.extend(c for c in chosen if c not in wanted and c.family not in dropped)
    if not wanted:
        raise ValueError("empty feature selection")
    return wanted


def column_name(family: str, feature: str, stat: str) -> str:
    """``family__feature__stat``."""
    for part in (family, feature, stat):
        if SEP in part or not part:
            raise ValueError(f"name parts may not be empty or contain {SEP!r}: {part!r}")
    return SEP.join((family, feature, stat))


def parse_column(column: str) -> tuple[str, str, str]:
    """Inverse of :func:`column_name`: ``(family, feature, stat)``."""
    parts = column.split(SEP)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a feature column: {column!r}")
    return parts[0], parts[1], parts[2]


def family_of(column: str) -> str:
    """The family of a ``family__feature__stat`` column, ``other`` when it is not one."""
    try:
        return parse_column(column)[0]
    except ValueError:
        return "other"


#: how each statistic over a track's frames turns a feature phrase into a column phrase
STAT_PHRASES = {
    "mean": "{} (average over frames)",
    "std": "how much the {} varies across frames",
    "q10": "{} (low end over frames, 10th percentile)",
    "q50": "{} (median over frames)",
    "q90": "{} (high end over frames, 90th percentile)",
    "value": "{} (whole track)",
}


def describe_column(column: str) -> str:
    """A plain-language phrase for a feature column (``""`` when none is declared).

    ``wavelet__e_l1d_kurt__std`` -> "how much the peakedness of fine diagonal wavelet detail varies across
    frames": the calculator's phrase for the feature (:attr:`Calculator.features`) put into the
    statistic's sentence (:data:`STAT_PHRASES`).
    """
    try:
        family, feature, stat = parse_column(column)
    except ValueError:
        return ""
    phrase = _phrases().get((family, feature), "")
    if not phrase:
        return ""
    return STAT_PHRASES.get(stat, "{} (" + stat + ")").format(phrase)


_PHRASES: dict | None = None


def _phrases() -> dict:
    global _PHRASES
    if _PHRASES is None:
        _PHRASES = {(c.family, f): p for c in all_calculators() for f, p in c.features.items()}
    return _PHRASES
