"""The Dagster code location (``workspace.yaml`` points here).

Assets, sensors, schedules and checks arrive with the Dagster issue; until then the location
loads empty so that ``make demo`` brings up a working instance.
"""

import dagster as dg

defs = dg.Definitions()
