"""An HTTP emulator of the Merge.dev unified API, for tests, demos and benchmarks.

Start it with ``merge-sandbox serve`` or, in tests, ``merge_sandbox.testing.running_sandbox``.
"""
