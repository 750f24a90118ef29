"""Storing a verified webhook: the inbox row, and for a linked account its encrypted token.

Both are written in one transaction, so an account's token is never stored without the event
that brought it (nor the event without the token). A redelivered body writes nothing: an old
linked-account event retried late cannot put back a token a relink has since replaced.
"""

import sqlalchemy as sa

from merge_pipeline.warehouse.accounts import save_account
from merge_pipeline.warehouse.inbox import store_event
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline.webhooks.events import WebhookEvent


def store_webhook(engine: sa.Engine, event: WebhookEvent, vault: TokenVault) -> bool:
    """Store ``event`` once; ``True`` if it was new, ``False`` for a redelivery."""
    with engine.begin() as connection:
        row_id = store_event(
            connection,
            event=event.event,
            linked_account_id=event.linked_account_id,
            body_sha256=event.body_sha256,
            payload=event.payload,
        )
        if row_id is None:
            return False
        if event.linked is not None:
            account, token = event.linked
            save_account(connection, account, token, vault)
        return True
