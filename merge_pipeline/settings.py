"""Every setting of merge-pipeline in one typed place.

Settings come from environment variables (prefix ``MERGE_PIPELINE_``), a ``.env`` file in the
working directory, or the file ``MERGE_PIPELINE_ENV_FILE`` names (e.g. the demo's
``.data/demo.env``: reading secrets from a file keeps them off command lines). Secrets are
:class:`pydantic.SecretStr`, so their ``repr`` and ``str`` never show the value;
call ``.get_secret_value()`` only at the point of use.
"""

import base64
import binascii
import os
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, HttpUrl, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from merge_pipeline.sync.nested_policy import NestedPolicy

ENV_PREFIX = "MERGE_PIPELINE_"
ENV_FILE_VARIABLE = "MERGE_PIPELINE_ENV_FILE"


class SettingsError(ValueError):
    """A missing or malformed setting, described in one line per problem (no traceback)."""


def _no_stray_whitespace(value: object) -> object:
    """Refuse, without quoting it, a value with whitespace or control characters at either end.

    A secret read from a file or a Kubernetes Secret often ends with a newline; sent in a header
    it makes the HTTP library refuse the request and quote the value in its error. Refusing at
    load names the setting and never shows the value.
    """
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(text, str) and text and (text != text.strip() or not text.isprintable()):
        where = "at either end" if text != text.strip() else "inside"
        raise ValueError(
            f"has whitespace or control characters {where} (often a newline from a file or a "
            "Secret); remove them"
        )
    return value


def _fernet_key(value: SecretStr) -> SecretStr:
    """Token encryption keys are Fernet keys: 32 bytes, url-safe base64."""
    for key in value.get_secret_value().split(","):
        try:
            raw = base64.urlsafe_b64decode(key.strip().encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError(
                "must be a Fernet key (32 url-safe base64 bytes); "
                "make one with `merge-pipeline generate-key`"
            )
    return value


FernetKeys = Annotated[SecretStr, AfterValidator(_fernet_key)]


def _postgres_url(value: SecretStr | None) -> SecretStr | None:
    """A database URL must be PostgreSQL's (any ``+driver``; ``postgres://`` too).

    It is a secret (it may hold a password), so the error never repeats it.
    """
    from merge_pipeline.warehouse.server import normalise_url

    if value is not None and value.get_secret_value():
        normalise_url(value.get_secret_value())  # DatabaseUrlError (a ValueError): one line
    return value


PostgresUrl = Annotated[SecretStr | None, AfterValidator(_postgres_url)]


def env_files() -> tuple[Path, ...]:
    """``.env``, then the file ``MERGE_PIPELINE_ENV_FILE`` names (later files win)."""
    named = os.environ.get(ENV_FILE_VARIABLE)
    if not named:
        return (Path(".env"),)
    if not Path(named).is_file():
        raise SettingsError(f"{ENV_FILE_VARIABLE} names {named}, which is not a readable file")
    return (Path(".env"), Path(named))


class Settings(BaseSettings):
    """Configuration of the pipeline: where Merge is, who we are to it, where data goes."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        frozen=True,
        # a ValidationError's text would otherwise quote the offending value: maybe a secret
        hide_input_in_errors=True,
    )

    api_key: SecretStr = Field(description="Merge production or test API key (Bearer).")
    base_url: HttpUrl = Field(
        default=HttpUrl("https://api.merge.dev/api"),
        description="Merge API base, e.g. https://api-eu.merge.dev/api or the sandbox URL.",
    )
    token_encryption_key: FernetKeys = Field(
        description="Fernet key(s) encrypting account tokens at rest; comma-separated to rotate "
        "(the first encrypts, all decrypt).",
    )
    webhook_signing_key: SecretStr | None = Field(
        default=None, description="Merge's webhook signature key (Dashboard > Webhooks > Security)."
    )
    webhook_linked_event: str = Field(
        default="LinkedAccount.linked",
        description="hook.event of Merge's linked-account webhook, the one carrying the account "
        "token (CONTRACT §6).",
    )
    webhook_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="The receiver refuses larger webhook bodies with 413.",
    )
    receiver_token: SecretStr | None = Field(
        default=None,
        description="Bearer secret a company's backend presents to the receiver's public-token "
        "exchange endpoint; unset = the endpoint refuses every call.",
    )
    database_url: PostgresUrl = Field(
        default=None,
        description="SQLAlchemy URL of an external PostgreSQL; unset = the embedded server. "
        "Secret: it may hold a password.",
    )
    data_dir: Path = Field(
        default=Path(".data"), description="Where the embedded PostgreSQL keeps its files."
    )
    page_size: int = Field(default=100, ge=1, le=100, description="Merge's maximum is 100.")
    request_timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=6, ge=0, le=20)
    rate_limit_per_minute: int = Field(
        default=100, ge=1, description="Per linked account (Merge: Launch 100, Pro 400, Ent 600)."
    )
    rate_limit_window_s: float = Field(
        default=61.0,
        gt=0,
        description="The window rate_limit_per_minute applies to: Merge's minute plus a second "
        "for the time a request takes to reach Merge. Shorten it only against a test sandbox.",
    )
    cursor_overlap_s: float = Field(
        default=60.0,
        ge=0,
        description=(
            "Re-read this much before the previous fetch's start: catches changes Merge makes "
            "visible up to this long after their modified_at, and clock skew."
        ),
    )
    deletion_sweep_s: float | None = Field(
        default=86_400.0,
        ge=0,
        description=(
            "List an incremental model in full when its last full listing is older than this "
            "(finds hard deletes, deletions without a modified_at bump, and deletions in models "
            "without remote_was_deleted); 0 = every sync, unset = never."
        ),
    )
    sync_concurrency: int = Field(default=4, ge=1, le=64)
    max_pages_per_listing: int = Field(
        default=100_000,
        ge=1,
        description="A listing that goes on longer (10 million records at 100 a page) is refused: "
        "a bound on what Merge's cursors can make us do.",
    )
    lock_timeout_s: float = Field(
        default=1800.0,
        gt=0,
        description="How long a sync waits for another sync of the same pair before giving up.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_stray_whitespace(cls, value: object) -> object:
        return _no_stray_whitespace(value)

    nested_policy: NestedPolicy = Field(
        default=NestedPolicy.CHANGED_PARENTS,
        description="Which parents a nested model's sync lists: every-parent (all, every time) "
        "or changed-parents (new or changed ones, plus a full re-list every "
        "nested_full_relist_hours).",
    )
    nested_full_relist_hours: float = Field(
        default=168.0,
        gt=0,
        description="changed-parents: list every parent again at least this often (bounds how "
        "stale a child changed under an unchanged parent can be).",
    )


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the environment variable to set or fix."""
    lines = []
    for problem in error.errors():
        name = ENV_PREFIX + "_".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "missing":
            message = "is required but not set"
        lines.append(f"{name} {message}")
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, raising :class:`SettingsError` with a one-line explanation."""
    try:
        overrides.setdefault("_env_file", env_files())  # a caller's own choice wins
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()


class AutomationSettings(BaseSettings):
    """When Dagster syncs on its own: the safety-net window and the account discovery interval.

    Read when the code location loads (a schedule's cron is fixed at definition time), so they
    hold no secret and need none: ``dagster definitions validate`` works without credentials.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    safety_net_start_hour: int = Field(
        default=0, ge=0, le=23, description="UTC hour the nightly safety-net window opens."
    )
    safety_net_hours: int = Field(default=6, ge=1, le=24, description="Length of the window.")
    safety_net_tick_minutes: int = Field(
        default=10, ge=1, le=60, description="A tick every N minutes (N divides 60)."
    )
    safety_net_slots: int | None = Field(
        default=None,
        ge=1,
        description="Account groups; tick n syncs group n % slots. Unset = one sync per window; "
        "1 = every account at every tick.",
    )
    discovery_interval_s: int = Field(
        default=120, ge=10, description="How often Merge's account list is read for partitions."
    )
    watchdog_interval_s: int = Field(
        default=30, ge=5, description="How often STARTED sync runs are checked for a live lease."
    )
    watchdog_grace_s: float = Field(
        default=120.0,
        ge=0,
        description="How long after its start a run may go without its account lease (it is "
        "still loading).",
    )
    run_requests_per_tick: int = Field(
        default=25,
        ge=1,
        le=1000,
        description="Runs one sensor tick requests at most (initial syncs, Merge's finished "
        "syncs); the rest waits for the next tick, oldest first. The daemon creates a tick's "
        "runs one by one and the sensor does not tick again before they exist, so a tick of "
        "hundreds of runs would keep its sensor busy for minutes. Raise it with the queue's "
        "max_concurrent_runs.",
    )
    max_queued_runs: int = Field(
        default=100,
        ge=0,
        description="Sensors request no new runs while this many wait in Dagster's queue (0 = "
        "no limit): what is not requested stays pending, so a full queue is not made longer, "
        "and the queue's own scan of its waiting runs stays short.",
    )
    deleted_account_data: Literal["keep", "purge"] = Field(
        default="keep",
        description="What happens to a deleted linked account's mirrored rows: kept (the "
        "account is marked inactive) or purged.",
    )

    # -- account health, checks and relinking (account_health sensor, defs/checks.py) ----------
    health_interval_s: int = Field(
        default=60, ge=10, description="How often the account-health sensor ticks."
    )
    health_accounts_per_tick: int = Field(
        default=50,
        ge=1,
        le=500,
        description="Accounts whose /account-details one health tick reads (round robin): one "
        "call each, so a tick stays far inside the sensor's 60 s.",
    )
    health_inbox_batch: int = Field(
        default=500, ge=1, description="Webhook inbox rows one health tick reads at most."
    )
    issue_webhook_events: str = Field(
        default="Issue.new,Issue.reopened,Issue.muted,Issue.resolved,Issue.created",
        description="hook.event names of Merge's Issue webhooks, comma-separated (CONTRACT §6; "
        "Issue.created is the older Help Center name). The part after the dot says what "
        "happened: new/created/reopened, muted, resolved.",
    )
    account_deleted_event: str = Field(
        default="LinkedAccount.deleted",
        description="hook.event of the 'Linked Account deleted' webhook (name unconfirmed); "
        "the sensor then confirms the deletion with Merge before retiring the account.",
    )
    stale_sync_hours: float = Field(
        default=36.0,
        gt=0,
        description="The stale check warns about an account+model with no successful sync "
        "within this many hours (the nightly safety net plus a margin).",
    )
    checks_in_sync_runs: bool = Field(
        default=True,
        description="Each sync run also evaluates its models' account-health checks. Dagster's "
        "UI shows a check on a partitioned asset only against the asset's latest "
        "materialization, so without this the checks read 'Not evaluated' after any account's "
        "next sync; off spares each run its check events (the health sensor still reports "
        "every change).",
    )
    relink_link_expiry_mins: int = Field(
        default=10080,
        ge=30,
        le=10080,
        description="How long a relink link stays valid (Merge: 30 to 720 min, up to 10080 "
        "for a Magic Link).",
    )
    relink_magic_link: bool = Field(
        default=True,
        description="Ask Merge for a Magic Link URL to send the end user when relinking "
        "(otherwise only a link token for your own Merge Link front end).",
    )

    # -- sync sensors: Merge's synced webhooks (from the inbox) and the /sync-status poll ------
    webhook_sensor_interval_s: int = Field(
        default=30, ge=5, description="How often the webhook sensor reads the inbox."
    )
    webhook_sensor_batch: int = Field(
        default=500, ge=1, le=10_000, description="Inbox events read per webhook-sensor tick."
    )
    webhook_sensor_settle_s: float = Field(
        default=5.0,
        ge=0,
        description="The webhook sensor reads only inbox rows older than this: a receiver's "
        "transaction may commit after one with a higher id, and the cursor must not pass it.",
    )
    webhook_account_synced_event: str = Field(
        default="LinkedAccount.synced",
        description="hook.event of Merge's linked-account-synced webhook (unconfirmed name, "
        "CONTRACT §6; LinkedAccount.sync_completed is the other reading).",
    )
    webhook_model_synced_event: str = Field(
        default="{model}.synced",
        description="hook.event of Merge's Common-Model-synced webhook; {model} stands for the "
        "model's name, e.g. Employee (unconfirmed name, CONTRACT §6).",
    )
    sync_status_interval_s: int = Field(
        default=60, ge=10, description="How often the /sync-status poll sensor ticks."
    )
    sync_status_accounts_per_tick: int = Field(
        default=100,
        ge=1,
        description="Accounts whose /sync-status one poll tick reads (round-robin over all).",
    )
    sync_status_time_budget_s: float = Field(
        default=20.0,
        gt=0,
        le=50,
        description="A poll tick starts no new account after this long (the tick limit is 60 s).",
    )
    sync_status_min_account_interval_s: int = Field(
        default=300,
        ge=0,
        description="An account the poll read this recently is not read again yet (the poll "
        "is a safety net: at most 3600/N calls per account per hour, whatever the tick rate).",
    )
    sync_wait_for_all_models: str = Field(
        default="",
        description="Accounts (comma-separated ids, or *) synced only once every model of their "
        "category has reported this round, in one run; DISABLED models are not waited for.",
    )

    @property
    def wait_for_all_accounts(self) -> tuple[str, ...]:
        """``sync_wait_for_all_models`` as a tuple of ids (or ``("*",)``)."""
        return tuple(p.strip() for p in self.sync_wait_for_all_models.split(",") if p.strip())


def load_automation_settings() -> AutomationSettings:
    try:
        return AutomationSettings(_env_file=env_files())
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None
