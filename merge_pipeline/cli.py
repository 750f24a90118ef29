"""``merge-pipeline``: operator commands for people who are not in the Dagster UI."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from merge_pipeline.db_cli import db as db_command
from merge_pipeline.settings import Settings, SettingsError
from merge_pipeline.webhooks.commands import exchange_command, receiver_command, relink_command


@contextmanager
def _database_errors_explained() -> Iterator[None]:
    """A database failure is one clear line saying what it was, not a traceback wall."""
    import sqlalchemy.exc

    from merge_pipeline.warehouse.db_errors import describe_database_error

    try:
        yield
    except sqlalchemy.exc.OperationalError as error:
        raise click.ClickException(
            f"{describe_database_error(error)}; syncs that finished are stored, and the next "
            "run resumes from the stored cursors"
        ) from None


class _Commands(click.Group):
    """Every command: database connection failures become one clear line."""

    def invoke(self, ctx: click.Context) -> object:
        with _database_errors_explained():
            return super().invoke(ctx)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="merge-pipeline", prog_name="merge-pipeline")
def main() -> None:
    """Mirror Merge.dev Common Models into PostgreSQL."""


@main.command("generate-key")
def generate_key_command() -> None:
    """Print a new key for MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY."""
    from merge_pipeline.warehouse.vault import generate_key

    click.echo(generate_key())


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path(".data"))
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=3000,
    show_default=True,
    help="Dagster UI port.",
)
@click.option(
    "--receiver-port",
    type=click.IntRange(1, 65535),
    default=8010,
    show_default=True,
    help="Webhook receiver port.",
)
def demo(data_dir: Path, port: int, receiver_port: int) -> None:
    """Run the whole stack locally; Ctrl-C stops everything it started."""
    from merge_pipeline.demo import run_demo

    sys.exit(run_demo(data_dir, port, receiver_port))


@main.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the warehouse schema (idempotent)."""
    from merge_pipeline.warehouse.database import warehouse_engine

    try:
        engine = warehouse_engine()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    engine.dispose()
    click.echo("warehouse schema is up to date")


def _settings_or_exit(*, api_key: bool = True, encryption_key: bool = True) -> Settings:
    """The settings; a command that never calls Merge (or never decrypts) need not have the
    API key (or the encryption key): it gets an unusable stand-in instead of an error."""
    from merge_pipeline.settings import get_settings, load_settings

    try:
        return get_settings()
    except SettingsError as error:
        stand_ins = _stand_ins(api_key=api_key, encryption_key=encryption_key)
        if not stand_ins:
            raise click.ClickException(str(error)) from None
    try:  # the problem may be a setting this command does not use: try without those
        return load_settings(**stand_ins)
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def _stand_ins(*, api_key: bool, encryption_key: bool) -> dict[str, object]:
    from pydantic import SecretStr

    from merge_pipeline.warehouse.vault import generate_key

    stand_ins: dict[str, object] = {}
    if not api_key:
        stand_ins["api_key"] = SecretStr("not-used-by-this-command")
    if not encryption_key:
        stand_ins["token_encryption_key"] = SecretStr(generate_key())
    return stand_ins


@main.group()
def accounts() -> None:
    """Linked accounts known to the pipeline (tokens are stored encrypted)."""


@accounts.command("add")
@click.option("--id", "account_id", required=True, help="Merge's linked account id.")
@click.option("--category", required=True, help="hris, ats, crm, accounting, ...")
@click.option("--integration", default=None)
@click.option("--end-user-origin-id", default=None)
@click.option(
    "--token-stdin", is_flag=True, help="Read the account token from standard input (no prompt)."
)
def accounts_add(
    account_id: str,
    category: str,
    integration: str | None,
    end_user_origin_id: str | None,
    token_stdin: bool,
) -> None:
    """Store a linked account and its account token (asked for without echo)."""
    from pydantic import SecretStr

    from merge_pipeline.catalog import load_catalog
    from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
    from merge_pipeline.warehouse.database import warehouse_engine
    from merge_pipeline.warehouse.vault import TokenVault

    if category not in load_catalog().categories:
        raise click.BadParameter(f"unknown category {category!r}", param_hint="--category")
    settings = _settings_or_exit(api_key=False)
    raw = sys.stdin.readline() if token_stdin else click.prompt("Account token", hide_input=True)
    token = SecretStr(raw.strip())
    if not token.get_secret_value():
        raise click.ClickException("the account token is empty")
    engine = warehouse_engine(settings)
    account = LinkedAccount(
        id=account_id,
        category=category,
        integration=integration,
        end_user_origin_id=end_user_origin_id,
    )
    with engine.begin() as connection:
        save_account(connection, account, token, TokenVault(settings.token_encryption_key))
    click.echo(f"stored linked account {account_id} ({category})")


@accounts.command("list")
def accounts_list() -> None:
    """List stored linked accounts (never their tokens)."""
    from merge_pipeline.warehouse.accounts import list_accounts
    from merge_pipeline.warehouse.database import warehouse_engine

    engine = warehouse_engine(_settings_or_exit(api_key=False, encryption_key=False))
    with engine.connect() as connection:
        for account in list_accounts(connection, active_only=False):
            click.echo(
                f"{account.id}\t{account.category}\t{account.integration or '-'}\t"
                f"{account.status or '-'}"
            )


@accounts.command("rotate-key")
def accounts_rotate_key() -> None:
    """Re-encrypt every stored token with the first key of MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY.

    Put the new key first and keep the old ones after it (``new,old``); keys are read from the
    environment or the env file only, never from arguments. All tokens change in one
    transaction: if one cannot be decrypted, none is changed. Then the old keys can be dropped.
    """
    from merge_pipeline.warehouse.accounts import TokenRotationFailed, reencrypt_tokens
    from merge_pipeline.warehouse.database import warehouse_engine
    from merge_pipeline.warehouse.vault import TokenVault

    settings = _settings_or_exit(api_key=False)
    vault = TokenVault(settings.token_encryption_key)
    engine = warehouse_engine(settings)
    try:
        with engine.begin() as connection:
            count = reencrypt_tokens(connection, vault)
    except TokenRotationFailed as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(
        f"re-encrypted {count} account token{'s' if count != 1 else ''} with the first key of "
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY"
        + ("; the other keys can now be removed" if vault.key_count > 1 else "")
    )


@main.command("models")
@click.argument("category", required=False)
def models_command(category: str | None) -> None:
    """List the Common Models of a category (every category's when none is named)."""
    from merge_pipeline.catalog import load_catalog

    catalog = load_catalog()
    if category is not None and category not in catalog.categories:
        known = ", ".join(sorted(catalog.categories))
        raise click.BadParameter(f"unknown category {category!r} (known: {known})")
    for name in [category] if category else sorted(catalog.categories):
        for model in catalog.category(name):
            click.echo(f"{model.model_id}\t{model.list_path}")


@main.command()
@click.option("--account", "account_ids", multiple=True, help="Linked account id (repeatable).")
@click.option("--all-accounts", is_flag=True, help="Every stored, active linked account.")
@click.option("--model", "model_ids", multiple=True, help="e.g. hris.Employee (repeatable).")
@click.option("--category", default=None, help="Every model of this category.")
@click.option("--expand", default="", help="Relations to expand (single model only), a,b,c.")
@click.option("--full", is_flag=True, help="Ignore the cursor: re-read everything.")
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (never shown when not in a terminal)."
)
def sync(
    account_ids: tuple[str, ...],
    all_accounts: bool,
    model_ids: tuple[str, ...],
    category: str | None,
    expand: str,
    full: bool,
    no_progress: bool,
) -> None:
    """Bring mirrors up to date: some models, a category, or every model of the accounts."""
    import logging
    import time
    import uuid

    from merge_pipeline.catalog import load_catalog
    from merge_pipeline.merge.errors import MergeUnreachable
    from merge_pipeline.sync.engine import SyncOptions
    from merge_pipeline.sync.plan import PlanError, plan_syncs
    from merge_pipeline.sync.progress import SyncProgress
    from merge_pipeline.sync.runner import sync_accounts
    from merge_pipeline.sync.summary import plural, rate_limit_warning, summary_line, tally
    from merge_pipeline.warehouse.accounts import list_accounts
    from merge_pipeline.warehouse.database import warehouse_engine
    from merge_pipeline.warehouse.vault import TokenVault

    if not account_ids and not all_accounts:
        raise click.UsageError("name --account ID (repeatable) or --all-accounts")
    settings = _settings_or_exit()
    engine = warehouse_engine(settings)
    with engine.connect() as connection:
        stored = list_accounts(connection)
    try:
        plan = plan_syncs(
            load_catalog(),
            stored,
            account_ids=account_ids,
            model_ids=model_ids,
            category=category,
            expand=tuple(filter(None, expand.split(","))),
        )
    except PlanError as error:
        raise click.UsageError(str(error)) from None
    options = SyncOptions.from_settings(
        settings, expand=tuple(filter(None, expand.split(","))), full=full
    )
    run_id = f"cli-{uuid.uuid4()}"  # ties this invocation's sync_runs rows together
    # every outcome is printed below: the runner's own warnings (printed by Python's last-resort
    # handler when nobody configured logging) would say each failure twice
    logging.getLogger("merge_pipeline.sync.runner").addHandler(logging.NullHandler())
    started = time.perf_counter()
    # frames of a bar are noise in a file or a pipe: only draw it for a person at a terminal
    at_terminal = sys.stdout.isatty() and sys.stderr.isatty()
    with SyncProgress(disable=no_progress or not at_terminal) as progress:
        outcomes = sync_accounts(
            engine,
            settings,
            TokenVault(settings.token_encryption_key),
            plan,
            options=options,
            sync_run_id=run_id,
            progress=progress.update,
        )
    elapsed = time.perf_counter() - started
    unreachable = [
        o
        for o in outcomes
        if o.error_type is not None and issubclass(o.error_type, MergeUnreachable)
    ]
    failed = 0
    for outcome in outcomes:
        if outcome in unreachable:
            continue  # the same line for every such pair: said once, below
        if outcome.result is not None:
            r = outcome.result
            click.echo(
                f"ok    {outcome.linked_account_id} {outcome.model_id}: {r.records_received:,} "
                f"received ({r.records_inserted:,} new, {r.records_updated:,} updated, "
                f"{r.records_deleted:,} deleted) in {plural(r.api_calls, 'call')}, "
                f"{r.duration_s:.1f}s"
            )
            if r.quarantine_pending:
                click.echo(
                    f"WARN  {outcome.linked_account_id} {outcome.model_id}: "
                    f"{plural(r.quarantine_pending, 'record')} could not be mirrored and wait in "
                    f"merge_pipeline.quarantined_records ({r.records_quarantined} this run)"
                )
        else:
            failed += 1
            click.echo(f"FAIL  {outcome.linked_account_id} {outcome.model_id}: {outcome.error}")
    if unreachable:
        raise click.ClickException(
            f"{unreachable[0].error} ({len(unreachable)} of {plural(len(outcomes), 'sync')} "
            f"not done, after {elapsed:.1f}s)"
        )
    figures = tally(
        [(o.linked_account_id, o.model_id) for o in outcomes],
        [o.result for o in outcomes if o.result is not None],
        failed,
    )
    click.echo(summary_line(figures, elapsed, run_id))
    warning = rate_limit_warning(figures, settings.rate_limit_per_minute)
    if warning is not None:
        click.echo(f"WARN  {warning}")
    if failed:
        raise click.ClickException(f"{failed} of {plural(len(outcomes), 'sync')} failed")


main.add_command(receiver_command)
accounts.add_command(exchange_command)
accounts.add_command(relink_command)  # webhooks/commands.py: a relink link
main.add_command(db_command)  # merge_pipeline/db_cli.py: url, shell, start, stop

if __name__ == "__main__":
    main()
