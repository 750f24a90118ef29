"""The peers' own virtualenvs, created on first use under ``.peers/`` (git-ignored).

Pinned so a figure can be traced to a release; the local package index serves both. A marker
file holding the requirement says a virtualenv is complete (a half-made one is made again).
"""

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = ROOT / ".peers"


@dataclass(frozen=True)
class Peer:
    """A peer's virtualenv: its folder name and what pip installs into it."""

    name: str
    requirements: tuple[str, ...]
    #: interpreters it runs on, most wanted first (empty: the one running this)
    pythons: tuple[str, ...] = ()


#: dlt 1.x with its PostgreSQL destination (psycopg2-binary comes with the extra)
DLT = Peer("dlt", ("dlt[postgres]==1.31.0",))
#: Airbyte's Merge source as published. It pins airbyte-cdk 1.0.0, which does not import on
#: Python 3.11 (a dataclass field with a mutable default, refused since 3.11): 3.10 or 3.9
AIRBYTE = Peer("airbyte", ("airbyte-source-merge==0.1.15",), ("3.10", "3.9"))


class NoInterpreter(RuntimeError):
    """None of the Python versions a peer runs on is installed."""


def interpreter(peer: Peer) -> str:
    """The first installed interpreter of the peer's versions (on PATH or under pyenv)."""
    if not peer.pythons:
        return sys.executable
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for version in peer.pythons:
        on_path = shutil.which(f"python{version}")
        if on_path and "/shims/" not in on_path:  # a pyenv shim may point at another version
            return on_path
        installed = sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python"))
        if installed:
            return installed[-1]
    wanted = " or ".join(peer.pythons)
    raise NoInterpreter(f"the {peer.name} peer needs Python {wanted}; none is installed")


def python_of(peer: Peer, base: Path = PEERS_DIR) -> Path:
    return base / peer.name / "bin" / "python"


def ensure(peer: Peer, base: Path = PEERS_DIR) -> Path:
    """The peer's interpreter, after creating and filling its virtualenv when needed."""
    folder = base / peer.name
    marker = folder / ".installed"
    wanted = "\n".join((*peer.requirements, *peer.pythons))
    if marker.exists() and marker.read_text() == wanted:
        return python_of(peer, base)
    print(f"creating the {peer.name} virtualenv in {folder} ...", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([interpreter(peer), "-m", "venv", str(folder)], check=True)
    subprocess.run(
        [str(python_of(peer, base)), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", *peer.requirements],
        check=True,
    )  # fmt: skip
    marker.write_text(wanted)
    return python_of(peer, base)


def main() -> None:
    """``python -m benchmarks.peers.venvs``: create both (e.g. before a timed run)."""
    for peer in (DLT, AIRBYTE):
        print(ensure(peer))


if __name__ == "__main__":
    main()
