"""The peers' own virtualenvs, created on first use under ``.peers/`` (git-ignored).

Pinned so a figure can be traced to a release; the local package index serves both. A marker
file holding the requirement says a virtualenv is complete (a half-made one is made again).
"""

import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = ROOT / ".peers"


@dataclass(frozen=True)
class Peer:
    """A peer's virtualenv: its folder name and what pip installs into it."""

    name: str
    requirements: tuple[str, ...]


#: dlt 1.x with its PostgreSQL destination (psycopg2-binary comes with the extra)
DLT = Peer("dlt", ("dlt[postgres]==1.31.0",))
#: Airbyte's Merge source as published (it pins airbyte-cdk 1.0.0, Python < 3.12)
AIRBYTE = Peer("airbyte", ("airbyte-source-merge==0.1.15",))


def python_of(peer: Peer, base: Path = PEERS_DIR) -> Path:
    return base / peer.name / "bin" / "python"


def ensure(peer: Peer, base: Path = PEERS_DIR) -> Path:
    """The peer's interpreter, after creating and filling its virtualenv when needed."""
    folder = base / peer.name
    marker = folder / ".installed"
    wanted = "\n".join(peer.requirements)
    if marker.exists() and marker.read_text() == wanted:
        return python_of(peer, base)
    print(f"creating the {peer.name} virtualenv in {folder} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
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
    sys.exit(main())
