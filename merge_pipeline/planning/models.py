"""Which Common Models a run syncs, and in which order."""

from merge_pipeline.catalog import Catalog, CommonModel


def parent_of(catalog: Catalog, model: CommonModel) -> CommonModel | None:
    """The model a nested model is listed under (``ats.Job`` for ``ats.ScreeningQuestion``)."""
    if not model.is_nested:
        return None
    [param] = model.path_params  # every nested Merge path has exactly one parent
    return catalog.category(model.category).model(str(param.model))


def sync_mode(model: CommonModel) -> str:
    """How a model is fetched: ``incremental``, ``full-refresh``, or ``nested`` (per parent)."""
    if model.is_nested:
        return "nested"
    return "incremental" if model.supports_modified_after else "full-refresh"
