"""The sync engine: bring one (linked account, Common Model) mirror up to date with Merge.

Pure rules (``window``, ``records``) decide; ``engine`` does the I/O through ``merge`` (HTTP) and
``warehouse`` (SQL).
"""
