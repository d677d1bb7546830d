"""The benchmark's results as plain data, and as a Markdown table for people."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


@dataclass
class Target:
    """A target of the issue: ``value`` should be at most ``limit`` (or at least, when ``at_least``)."""

    what: str
    value: float | None
    limit: float
    unit: str = ""
    at_least: bool = False

    @property
    def met(self) -> bool | None:
        if self.value is None or math.isnan(self.value):
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass
class Section:
    """One numbered section of the benchmark: a table, notes, targets and the raw numbers."""

    number: int
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
            "targets": [t.as_dict() for t in self.targets],
            "data": self.data,
        }


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, or an em dash for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}g}"


def ms(seconds: float | None) -> str:
    """Seconds shown as milliseconds."""
    return "—" if seconds is None else f"{seconds * 1e3:.3g} ms"


def machine() -> dict[str, Any]:
    """Where the benchmark ran: CPU, cores, Python and library versions."""
    import numpy
    import sympy

    import symgrad

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "sympy": sympy.__version__,
        "symgrad": symgrad.__version__,
        "executable": sys.executable,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def _table(section: Section) -> list[str]:
    lines = [f"| {' | '.join(section.columns)} |", f"|{'|'.join('---' for _ in section.columns)}|"]
    lines += [f"| {' | '.join(row)} |" for row in section.rows]
    return lines


def _verdict(target: Target) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[target.met]


def markdown(sections: list[Section], info: dict[str, Any], *, quick: bool, date: str) -> str:
    """Every section as Markdown, then a summary of the targets."""
    mode = "python benchmarks/run.py --quick" if quick else "python benchmarks/run.py"
    lines = [
        f"Benchmarks of symgrad {info['symgrad']}, {date}, on {info['cpu']} ({info['cores']} cores), "
        f"{info['system']}, Python {info['python']}, NumPy {info['numpy']}, SymPy {info['sympy']}, "
        f"BLAS threads: {info['blas_threads']}. "
        f"Command: `{mode}`. Every figure is a median over repeats run in turns (ABBA), and every "
        "comparison a ratio measured within this one run.",
        "",
    ]
    for section in sections:
        lines += [f"### {section.number}. {section.title}", ""]
        if section.rows:
            lines += [*_table(section), ""]
        lines += [f"- {note}" for note in section.notes]
        if section.notes:
            lines.append("")
    lines += ["### Targets", "", "| target | measured | limit | verdict |", "|---|---|---|---|"]
    for section in sections:
        for target in section.targets:
            sign = ">=" if target.at_least else "<="
            value = fmt(target.value)
            limit = f"{sign} {fmt(target.limit)}{target.unit}"
            lines.append(f"| {target.what} | {value}{target.unit} | {limit} | {_verdict(target)} |")
    return "\n".join(lines) + "\n"


def today() -> str:
    """Today's date (UTC), e.g. 2026-11-26."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def write_json(path: Path, sections: list[Section], info: dict[str, Any], *, quick: bool, date: str) -> None:
    """The raw results as JSON (sorted keys, so two runs diff cleanly)."""
    document = {"date": date, "quick": quick, "machine": info, "sections": [s.as_dict() for s in sections]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True, allow_nan=False, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    msg = f"cannot write {type(value).__name__} to JSON"
    raise TypeError(msg)
