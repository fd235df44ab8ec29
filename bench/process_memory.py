"""Peak memory of the current process, for benchmarks that run each side in a subprocess."""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MiB.

    Not ``ru_maxrss``: on Linux that carries the parent's peak across fork and exec, so
    a child started by a big parent would report at least the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
