"""CLI commands of the receiver and linking: ``receiver``, ``accounts exchange|relink``.

Registered on the main command group in ``merge_pipeline.cli``; heavy imports stay inside the
commands so ``merge-pipeline --help`` stays fast.
"""

import sys

import click

from merge_pipeline.settings import Settings, SettingsError


def _settings() -> Settings:
    from merge_pipeline.settings import get_settings

    try:
        return get_settings()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@click.command("receiver")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8010,
    show_default=True,
    help="0: any free port (the URL is logged).",
)
def receiver_command(host: str, port: int) -> None:
    """Serve the webhook receiver (POST /webhooks/merge) until interrupted.

    Run it behind an HTTPS proxy and register https://<your host>/webhooks/merge with Merge.
    """
    from merge_pipeline.warehouse.database import warehouse_engine
    from merge_pipeline.webhooks.server import serve

    settings = _settings()
    if settings.webhook_signing_key is None:
        raise click.ClickException(
            "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY is required by the webhook receiver "
            "(Merge dashboard > Webhooks > Security)"
        )
    engine = warehouse_engine(settings)
    try:
        serve(settings, engine, host, port)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    finally:
        engine.dispose()


@click.command("exchange")
@click.option("--category", required=True, help="The category the account was linked for.")
@click.option(
    "--public-token",
    default=None,
    help="Merge Link's public token; better left out: it is then read from standard input "
    "(or asked for without echo), so it stays out of shell history and process lists.",
)
def exchange_command(category: str, public_token: str | None) -> None:
    """Exchange a Merge Link public token and store the account's token (encrypted)."""
    from pydantic import SecretStr

    from merge_pipeline.catalog import load_catalog
    from merge_pipeline.merge.client import MergeClient
    from merge_pipeline.merge.errors import MergeError
    from merge_pipeline.warehouse.database import warehouse_engine
    from merge_pipeline.warehouse.vault import TokenVault
    from merge_pipeline.webhooks.exchange import exchange_and_store

    if category not in load_catalog().categories:
        raise click.BadParameter(f"unknown category {category!r}", param_hint="--category")
    settings = _settings()
    if public_token is None:
        if sys.stdin.isatty():
            public_token = click.prompt("Public token", hide_input=True)
        else:
            public_token = sys.stdin.readline()
    token = SecretStr((public_token or "").strip())
    if not token.get_secret_value():
        raise click.ClickException("the public token is empty")
    engine = warehouse_engine(settings)
    try:
        with MergeClient(settings) as client:
            account = exchange_and_store(
                client,
                engine,
                TokenVault(settings.token_encryption_key),
                category=category,
                public_token=token,
            )
    except (MergeError, ValueError) as error:
        raise click.ClickException(f"the exchange failed: {error}") from None
    finally:
        engine.dispose()
    click.echo(
        f"stored linked account {account.id} ({category}, {account.integration or '-'}); "
        "its token is encrypted"
    )


@click.command("relink")
@click.argument("account_id")
@click.option(
    "--expiry-mins",
    type=click.IntRange(30, 10080),  # Merge's bounds (CONTRACT §5); over 720 for Magic Links
    default=None,
    help="How long the link stays valid (default MERGE_PIPELINE_RELINK_LINK_EXPIRY_MINS).",
)
@click.option(
    "--magic-link/--no-magic-link",
    default=None,
    help="Ask Merge for a Magic Link URL (default MERGE_PIPELINE_RELINK_MAGIC_LINK).",
)
def relink_command(account_id: str, expiry_mins: int | None, magic_link: bool | None) -> None:
    """Print the Merge Link to send the end user of an account that needs relinking."""
    from merge_pipeline.merge.client import MergeClient
    from merge_pipeline.merge.errors import MergeError
    from merge_pipeline.relinking import RelinkRefused, request_relink
    from merge_pipeline.settings import SettingsError, load_automation_settings
    from merge_pipeline.warehouse.database import warehouse_engine
    from merge_pipeline.warehouse.rate_limit import SharedRateLimits
    from merge_pipeline.warehouse.vault import TokenVault

    settings = _settings()
    try:
        automation = load_automation_settings()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    engine = warehouse_engine(settings)
    try:
        with (
            MergeClient(
                settings, rate_limiters=SharedRateLimits.from_settings(engine, settings)
            ) as client,
            engine.connect() as connection,
        ):
            link = request_relink(
                client,
                connection,
                TokenVault(settings.token_encryption_key),
                account_id,
                expiry_mins=expiry_mins or automation.relink_link_expiry_mins,
                magic_link=automation.relink_magic_link if magic_link is None else magic_link,
            )
    except (RelinkRefused, MergeError) as error:
        raise click.ClickException(f"relink not requested: {error}") from None
    finally:
        engine.dispose()
    issues = link.issues or "no open issue"
    click.echo(f"{link.account_id}: {link.status or 'status unknown'}; {issues}")
    click.echo(link.instructions())
    click.echo(link.to_send)
