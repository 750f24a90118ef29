"""Contract tests: sandbox responses checked against Merge's OpenAPI documents or the catalog."""
