"""Helpers shared by the benchmark scripts (not part of the package).

Each benchmark runs the code it measures in a fresh child interpreter when it reports
peak memory, so the figure is that of one ``labelquorum`` process doing one thing, not of
the benchmark's own data generation.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
OUT = REPO / "benchmarks" / "out"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Reads ``VmHWM`` from ``/proc/self/status`` where it exists: ``ru_maxrss`` of a child
    started by ``subprocess`` also counts its parent's peak from before the ``exec``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(script: Path, *args: str) -> dict:
    """Run ``script --child ARGS`` in a fresh interpreter; return the JSON it prints last."""
    proc = subprocess.run([sys.executable, str(script), "--child", *args], text=True,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"child run of {script.name} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_call(fn, path: Path):
    """Call ``fn()`` under cProfile; dump the stats to ``path``; return (result, Stats)."""
    prof = cProfile.Profile()
    result = prof.runcall(fn)
    path.parent.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(str(path))
    return result, pstats.Stats(str(path))


def cumulative(stats: pstats.Stats, file_suffix: str, name: str,
               caller: tuple[str, str] | None = None) -> float:
    """Cumulative seconds of function ``name`` in a file ending ``file_suffix``.

    With ``caller=(file_suffix, name)``, only the time of calls made from that caller.
    """
    total = 0.0
    for (file, _line, func), (_cc, _nc, _tt, ct, callers) in stats.stats.items():
        if func != name or not file.endswith(file_suffix):
            continue
        if caller is None:
            total += ct
            continue
        for (cfile, _cline, cfunc), value in callers.items():
            if cfunc == caller[1] and cfile.endswith(caller[0]):
                total += value[3]
    return total


def top_functions(stats: pstats.Stats, n: int = 15, key: str = "tottime") -> list[dict]:
    """The ``n`` functions with the most own (``tottime``) or cumulative time."""
    total = max(stats.total_tt, 1e-12)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        rows.append({"function": f"{_short(file)}:{line}({func})", "calls": nc,
                     "own s": tt, "cum s": ct, "own %": 100 * tt / total,
                     "cum %": 100 * ct / total})
    rows.sort(key=lambda r: r["own s" if key == "tottime" else "cum s"], reverse=True)
    return rows[:n]


def _short(file: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def table(rows: list[dict], floatfmt: str = "{:,.3f}") -> str:
    """A plain-text table of dict rows (same keys), numbers formatted."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])

    def fmt(v):
        if isinstance(v, float):
            return floatfmt.format(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r.get(c), (int, float)) for r in rows) for c in cols]
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w)
                       for c, w, num in zip(cols, widths, numeric))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w)
                               for v, w, num in zip(row, widths, numeric)))
    return "\n".join(lines)
