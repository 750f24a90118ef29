"""Runs inside the Airbyte virtualenv: Airbyte's Merge source with at most two small changes.

``python -m airbyte_launch BASE_URL as-published|paging-fixed read --config ... --catalog ...``

The published connector is a declarative manifest (``source_merge/manifest.yaml``). Its
``url_base`` is Merge's production host and its spec has no setting for another, so the one
change made to its configuration is that host, replaced by the sandbox's URL. ``paging-fixed``
also applies the minimal paging fix: the published paginator puts Merge's ``next`` token in the
request *path* (``page_token_option: RequestPath``), which only works when ``next`` is a URL;
Merge's ``next`` is a cursor, to be sent back as the ``cursor`` query parameter. Both changes
are text replacements of the packaged manifest, made in memory (``PATCHES``), so the installed
package stays as published.
"""

import pkgutil
import sys
from typing import Any

import yaml
from airbyte_cdk.entrypoint import launch
from source_merge import SourceMerge

PUBLISHED_HOST = "https://api.merge.dev/api"
PAGING_AS_PUBLISHED = "    page_token_option:\n      type: RequestPath\n"
PAGING_FIXED = (
    "    page_token_option:\n"
    "      type: RequestOption\n"
    "      inject_into: request_parameter\n"
    "      field_name: cursor\n"
)


def manifest(base_url: str, variant: str) -> str:
    raw = pkgutil.get_data("source_merge", "manifest.yaml")
    if raw is None:
        raise SystemExit("source_merge/manifest.yaml is not packaged")
    text = raw.decode()
    if PUBLISHED_HOST not in text or PAGING_AS_PUBLISHED not in text:
        raise SystemExit("the packaged manifest is not the one these patches were written for")
    text = text.replace(PUBLISHED_HOST, base_url.rstrip("/"))
    if variant == "paging-fixed":
        text = text.replace(PAGING_AS_PUBLISHED, PAGING_FIXED)
    elif variant != "as-published":
        raise SystemExit(f"unknown variant {variant!r} (as-published or paging-fixed)")
    return text


def main() -> None:
    base_url, variant, *arguments = sys.argv[1:]

    class Patched(SourceMerge):
        """The published source (its spec and schemas found in its package), manifest patched."""

        __module__ = SourceMerge.__module__

        def _read_and_parse_yaml_file(self, path_to_yaml_file: str) -> Any:
            return yaml.safe_load(manifest(base_url, variant))

    launch(Patched(), arguments)


if __name__ == "__main__":
    main()
