"""``make bench-peers``: merge-pipeline beside dlt and Airbyte's Merge source, same sandbox data.

Each peer runs in its own virtualenv (``venvs``) as a child process; nothing of theirs is
imported here. The scripts that run inside those virtualenvs are ``dlt_peer`` and
``airbyte_launch``; everything else runs in the project's own interpreter.
"""
