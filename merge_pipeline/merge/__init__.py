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
    MergeUnreachable,
)
from merge_pipeline.merge.page import Page
from merge_pipeline.merge.ratelimit import (
    AccountRateLimiter,
    RateLimiter,
    RateLimiterRegistry,
    RateLimits,
    process_registry,
)
from merge_pipeline.merge.retry import RetryPolicy
from merge_pipeline.merge.stats import CallStats

__all__ = [
    "DEFAULT_AUTH_RULES",
    "AccountCredentials",
    "AccountRateLimiter",
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
    "MergeUnreachable",
    "Page",
    "RateLimiter",
    "RateLimiterRegistry",
    "RateLimits",
    "RetryPolicy",
    "process_registry",
]
