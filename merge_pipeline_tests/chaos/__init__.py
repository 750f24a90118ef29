"""Chaos harness with an oracle (issue #13, item 1).

Seeded, randomized scenarios run against real parts over real sockets: the sandbox (Merge),
PostgreSQL, ``merge-pipeline sync`` subprocesses, the ``merge-pipeline receiver`` process and,
for one family, a Dagster daemon with its code server, sensors and runs. Each scenario creates,
mutates and deletes records, turns sandbox adversities on, injects faults (429 storms, 5xx
bursts, slow and dropped connections, killed processes, cut PostgreSQL connections, a restarted
server, a relink, clock skew, webhooks duplicated, delayed, reordered and lost), lets the system
converge, then compares mirror and ground truth record by record and column by column
(:mod:`merge_pipeline_tests.oracle`) and the webhook inbox with what Merge delivered.

Why seeded step lists and not hypothesis' stateful testing: one scenario costs seconds of real
processes (a sync subprocess alone is about a second of imports), and hypothesis' shrinker
replays a failing example hundreds of times while it also needs every step to be deterministic,
which killed processes and delivery timing are not. So each scenario is a step list drawn from
``random.Random(seed)`` (:mod:`.steps`), printed with its seed when it fails and replayable with
``--seed S --scenarios 1``; a failing list is shrunk by delta debugging (:mod:`.shrink`), each
candidate re-run on the real stack, keeping the smallest list that still fails.

Modules, one concept each: :mod:`.faults` (the fault kinds), :mod:`.steps` (scenario
generation), :mod:`.stack` (the running parts), :mod:`.scenario` (running one scenario and its
convergence), :mod:`.dagster_family` (scenarios through the daemon), :mod:`.shrink`,
:mod:`.report`, :mod:`.runner` (the whole run; ``python -m merge_pipeline_tests.chaos``).
"""
