"""The Common Model catalog: every Merge category, model and field, as typed data.

Generated from ``../shared/merge`` by :mod:`merge_pipeline.catalog.generator` and committed as
``catalog.json``; the runtime reads only that file.
"""

from merge_pipeline.catalog.model import (
    Catalog,
    Category,
    CommonModel,
    Field,
    ObjectType,
    PathParam,
    load_catalog,
)

__all__ = ["Catalog", "Category", "CommonModel", "Field", "ObjectType", "PathParam", "load_catalog"]
