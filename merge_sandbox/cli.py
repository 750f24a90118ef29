"""``merge-sandbox serve``: run the emulator from the command line."""

import json
import time
from pathlib import Path

import click

from merge_sandbox.admin_api import account_summary
from merge_sandbox.adversity import ENVIRONMENT_VARIABLE, parse_adversity
from merge_sandbox.config import (
    DEFAULT_API_KEY,
    DEFAULT_DATA_EPOCH,
    DEFAULT_SIGNING_KEY,
    SandboxConfig,
)
from merge_sandbox.server import base_url, bind, make_server
from merge_sandbox.state import CATEGORY_ORDER, Sandbox
from merge_sandbox.timefmt import parse_iso
from merge_sandbox.webhooks import WebhookSettings

#: secrets come from the environment (or the options, for quick local use): a command line is
#: readable by every user of the machine through ``ps`` and /proc/<pid>/cmdline
API_KEY_VARIABLE = "MERGE_SANDBOX_API_KEY"
SIGNING_KEY_VARIABLE = "MERGE_SANDBOX_WEBHOOK_SIGNING_KEY"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """An HTTP emulator of the Merge.dev unified API."""


@main.command()
@click.option("--accounts", default=10, show_default=True, help="Linked accounts to create.")
@click.option(
    "--records", default=10_000, show_default=True, help="Records in total, over all accounts."
)
@click.option("--seed", default=1, show_default=True, help="Seed of the fake data.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, help="0 picks a free port.")
@click.option(
    "--api-key",
    envvar=API_KEY_VARIABLE,
    default=DEFAULT_API_KEY,
    show_default=True,
    help=f"Prefer ${API_KEY_VARIABLE}: options are visible in `ps`.",
)
@click.option("--webhook-url", default=None, help="Where to POST Merge's webhooks.")
@click.option(
    "--webhook-signing-key",
    envvar=SIGNING_KEY_VARIABLE,
    default=DEFAULT_SIGNING_KEY,
    show_default=True,
    help=f"Prefer ${SIGNING_KEY_VARIABLE}: options are visible in `ps`.",
)
@click.option(
    "--categories",
    default=",".join(CATEGORY_ORDER),
    show_default=True,
    help="Comma-separated categories the accounts take in turn.",
)
@click.option(
    "--accounts-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write base URL, API key and the accounts with their tokens here (JSON).",
)
@click.option(
    "--page-size-over-max",
    type=click.Choice(["clamp", "error"]),
    default="clamp",
    show_default=True,
)
@click.option(
    "--adversity",
    envvar=ENVIRONMENT_VARIABLE,
    default="",
    help="Adversity switches, e.g. 'hard_deletes,list_order=descending' (see adversity.py).",
)
@click.option(
    "--epoch",
    default=DEFAULT_DATA_EPOCH,
    show_default=True,
    help="Base records are laid out before this instant (ISO 8601), so a restart with the same "
    "seed serves the same data; 'now' lays them out before the start instead.",
)
@click.option(
    "--trickle-per-minute",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Records created, updated or deleted per minute in the background, across the accounts.",
)
@click.option(
    "--sync-every-seconds",
    envvar="MERGE_SANDBOX_SYNC_EVERY_SECONDS",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Merge syncs every account this often (real seconds; 0: never), changing a few records "
    "and firing the synced webhooks (see schedule.py).",
)
@click.option(
    "--sync-duration-seconds",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="How long each of those syncs keeps the account's models SYNCING.",
)
@click.option("--log-level", default="warning", show_default=True)
def serve(
    accounts: int,
    records: int,
    seed: int,
    host: str,
    port: int,
    api_key: str,
    webhook_url: str | None,
    webhook_signing_key: str,
    categories: str,
    accounts_file: Path | None,
    page_size_over_max: str,
    adversity: str,
    epoch: str,
    trickle_per_minute: float,
    sync_every_seconds: float,
    sync_duration_seconds: float,
    log_level: str,
) -> None:
    """Serve the Merge API at http://HOST:PORT/api and the control API at /_sandbox/."""
    started = time.monotonic()
    config = SandboxConfig(
        api_key=api_key,
        seed=seed,
        page_size_over_max=page_size_over_max,
        data_epoch_us=_epoch_us(epoch),
        trickle_per_minute=trickle_per_minute,
        sync_every_seconds=sync_every_seconds,
        sync_duration_seconds=sync_duration_seconds,
    )
    hooks = WebhookSettings(url=webhook_url, signing_key=webhook_signing_key)
    try:
        switches = parse_adversity(adversity)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--adversity") from None
    sandbox = Sandbox(config=config, webhooks=hooks, adversity=switches)
    sandbox.populate(accounts, records, [c for c in categories.split(",") if c])
    sock = bind(host, port)
    url = base_url(sock)
    if accounts_file is not None:
        document = {
            "base_url": url,
            "api_key": api_key,
            "accounts": [account_summary(a) for a in sandbox.accounts.values()],
        }
        accounts_file.write_text(json.dumps(document, indent=1))
    location = (
        str(accounts_file) if accounts_file else f"{url.removesuffix('/api')}/_sandbox/accounts"
    )
    total = sum(a.record_count for a in sandbox.accounts.values())
    click.echo(
        f"merge-sandbox serving {url} ({len(sandbox.accounts)} accounts, {total} records, "
        f"ready in {time.monotonic() - started:.2f}s); accounts: {location}",
    )
    make_server(sandbox, log_level).run(sockets=[sock])


def _epoch_us(text: str) -> int | None:
    if text.strip().lower() == "now":
        return None
    try:
        return parse_iso(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 date-time (or 'now')", param_hint="--epoch"
        ) from None


if __name__ == "__main__":
    main()
