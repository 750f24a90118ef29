"""The Merge API client: the only part of merge-pipeline that speaks HTTP to Merge."""

from merge_pipeline.merge.classify import DEFAULT_AUTH_RULES, AuthRules
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.errors import (
    InvalidAccountToken,
    InvalidApiKey,
    MergeAuthError,
    MergeBadRequest,
    MergeError,
    MergeNotFound,
    MergeRateLimited,
    MergeResponseError,
    MergeServerError,
    MergeTransportError,
    MergeUnexpectedStatus,
)
from merge_pipeline.merge.page import Page
from merge_pipeline.merge.ratelimit import RateLimiter, RateLimiterRegistry, process_registry
from merge_pipeline.merge.retry import RetryPolicy
from merge_pipeline.merge.stats import CallStats

__all__ = [
    "DEFAULT_AUTH_RULES",
    "AccountCredentials",
    "AuthRules",
    "CallStats",
    "InvalidAccountToken",
    "InvalidApiKey",
    "MergeAuthError",
    "MergeBadRequest",
    "MergeClient",
    "MergeError",
    "MergeNotFound",
    "MergeRateLimited",
    "MergeResponseError",
    "MergeServerError",
    "MergeTransportError",
    "MergeUnexpectedStatus",
    "Page",
    "RateLimiter",
    "RateLimiterRegistry",
    "RetryPolicy",
    "process_registry",
]
