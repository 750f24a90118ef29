"""The PostgreSQL side: mirror tables from the catalog, the pipeline's state, migrations.

Only this package speaks SQL.
"""
