"""Run a module as ``__main__`` and write its peak RSS to a file: ``python -m
benchmarks.peak_rss OUTPUT MODULE ARGS...`` (OUTPUT gets the KiB of ``VmHWM``).

Why not ``wait4``'s ``ru_maxrss``: Linux carries a process's high-water mark across ``exec``,
so a child forked from a large benchmark process reports at least the parent's size (measured
here: 239 MiB for a sync that peaks near 100 MiB). ``VmHWM`` in ``/proc/self/status`` is the
high-water mark of the address space the process got at ``exec``: its own peak only.
"""

import atexit
import runpy
import sys
from pathlib import Path


def own_peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    output, module, *arguments = sys.argv[1:]
    atexit.register(lambda: Path(output).write_text(str(own_peak_kib())))
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
