"""Settings of one sandbox instance: what to emulate where Merge's behaviour is unconfirmed."""

from dataclasses import dataclass, field

from merge_sandbox.errors import ErrorTexts
from merge_sandbox.timefmt import parse_iso

DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_SIGNING_KEY = "sandbox-webhook-signing-key"
#: Base records are laid out before this instant, so a restart with the same seed serves the same
#: data (not data shifted to the new start time).
DEFAULT_DATA_EPOCH = "2026-01-01T00:00:00Z"


@dataclass
class SandboxConfig:
    """Everything a test may want to change; admin calls mutate the live instance."""

    api_key: str = DEFAULT_API_KEY
    seed: int = 1
    default_page_size: int = 30
    max_page_size: int = 100
    page_size_over_max: str = "clamp"  # or "error": 400 above ``max_page_size`` (unconfirmed)
    invalid_page_size: str = "default"  # or "error": 400 for 0, -1, "many" (DRF: the default)
    errors: ErrorTexts = field(default_factory=ErrorTexts)
    issue_error_description: str = "Invalid login credentials"
    sync_interval_seconds: int = 3600
    resync_finish_seconds: float | None = 1.0  # a forced resync finishes DONE after this (real s)
    integration_index: int = 0  # which of a category's integrations new accounts use
    account_type: str = "PRODUCTION"
    test_account_type: str = "TEST"  # unconfirmed in the reference
    #: base records' timestamps end before this (µs); None: before each account's creation
    data_epoch_us: int | None = field(default_factory=lambda: parse_iso(DEFAULT_DATA_EPOCH))
    trickle_per_minute: float = 0.0  # records created/updated/deleted per minute in background
    sync_every_seconds: float = 0.0  # Merge's own syncs of every account (0: none; schedule.py)
    sync_duration_seconds: float = 5.0  # how long (real s) such a sync keeps models SYNCING
    #: whether an authenticated API call for an IDLE (paused) account makes it COMPLETE again.
    #: Merge pauses after two weeks without inbound requests (CONTRACT §4); how soon activity
    #: resumes it is unconfirmed. Off: a paused account stays so until the admin lifts it.
    resume_paused_on_request: bool = False
    #: where ``magic_link_url`` points; None: the sandbox's own link page (/_sandbox/link/<token>)
    magic_link_base: str | None = None
    #: optional SyncStatus fields left out of /sync-status and synced webhooks, as older SDK
    #: generations lack ``last_sync_result`` / ``last_sync_finished`` (CONTRACT §4)
    sync_status_omits: list[str] = field(default_factory=list)
