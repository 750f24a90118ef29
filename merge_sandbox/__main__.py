"""``python -m merge_sandbox serve ...`` is ``merge-sandbox serve ...``."""

from merge_sandbox.cli import main

main()
