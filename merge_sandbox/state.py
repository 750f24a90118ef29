"""The whole state of one sandbox: configuration, clock, linked accounts, tokens, faults.

Everything here is touched only from the server's event loop (request handlers and the
background tasks it starts), so no locks are needed.
"""

import base64
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from merge_sandbox.accounts import Issue, LinkedAccount, ModelSync
from merge_sandbox.adversity import Adversity
from merge_sandbox.clock import VirtualClock
from merge_sandbox.config import SandboxConfig
from merge_sandbox.faults import Faults
from merge_sandbox.hashing import hash64
from merge_sandbox.ids import decode_index, derived_uuid, split
from merge_sandbox.integrations import integration_for
from merge_sandbox.layout import QUIET_US, account_layouts, spread_counts
from merge_sandbox.pools import Pools, build_pools
from merge_sandbox.records import AccountRecords, Generators
from merge_sandbox.schema import Schema, load_schema
from merge_sandbox.table import ModelTable
from merge_sandbox.timefmt import US_PER_SECOND
from merge_sandbox.webhooks import WebhookDispatcher, WebhookSettings

CATEGORY_ORDER = (
    "hris",
    "ats",
    "crm",
    "accounting",
    "ticketing",
    "filestorage",
    "knowledgebase",
    "chat",
    "calendar",
    "email",
)


@dataclass
class LinkRequest:
    """A link token handed out by ``POST /link-token``, waiting for the end user."""

    link_token: str
    category: str
    end_user_origin_id: str
    end_user_organization_name: str
    end_user_email_address: str
    integration: str | None
    relink_account_id: str | None


@cache
def shared_generators(seed: int) -> tuple[Pools, Generators]:
    """Pools and compiled generators are immutable: sandboxes with one seed share them."""
    pools = build_pools(seed)
    return pools, Generators(load_schema(), pools)


def _token(*parts: object, length: int = 43) -> str:
    raw = b"".join(hash64(i, *parts).to_bytes(8, "big") for i in range(6))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")[:length]


class Sandbox:
    """Linked accounts and everything Merge keeps about them."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        clock: VirtualClock | None = None,
        schema: Schema | None = None,
        pools: Pools | None = None,
        webhooks: WebhookSettings | None = None,
        adversity: Adversity | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.clock = clock or VirtualClock()
        self.schema = schema or load_schema()
        if pools is None and schema is None:
            self.pools, self.generators = shared_generators(self.config.seed)
        else:
            self.pools = pools or build_pools(self.config.seed)
            self.generators = Generators(self.schema, self.pools)
        epoch = self.config.data_epoch_us
        if epoch is not None and self.clock.now_us() < epoch:
            self.clock.set(epoch)  # "now" never precedes the records laid out before the epoch
        self.accounts: dict[str, LinkedAccount] = {}
        self.by_token: dict[str, LinkedAccount] = {}
        self.issues: dict[str, Issue] = {}
        self.link_requests: dict[str, LinkRequest] = {}
        self.public_tokens: dict[str, str] = {}
        self.webhooks = WebhookDispatcher(webhooks or WebhookSettings(), self.config.seed)
        self.faults = Faults()
        self.adversity = adversity or Adversity()
        #: listings whose ``next`` already looped once, and each listing's second-page cursor
        #: (the ``next_cycles`` switch)
        self.cycled_listings: set[str] = set()
        self.listing_starts: dict[str, str] = {}
        self.random = random.Random(self.config.seed)
        self._ordinal = 0

    # -- accounts -----------------------------------------------------------------------

    def populate(
        self, accounts: int, records: int, categories: Iterable[str] | None = None
    ) -> None:
        """Create ``accounts`` linked accounts sharing ``records`` records, categories in turn."""
        order = list(categories or CATEGORY_ORDER)
        per_account, extra = divmod(records, max(accounts, 1))
        for n in range(accounts):
            self.create_account(order[n % len(order)], per_account + (1 if n < extra else 0))

    def next_ordinal(self) -> int:
        self._ordinal += 1
        return self._ordinal

    def create_account(
        self,
        category: str,
        records: int,
        end_user_origin_id: str | None = None,
        end_user_organization_name: str | None = None,
        end_user_email_address: str | None = None,
        integration: str | None = None,
        is_test: bool = False,
        initial_sync_done: bool = True,
    ) -> LinkedAccount:
        """A linked account with ``records`` base records spread over its category's models."""
        self.schema.catalog.category(category)  # KeyError for an unknown category
        seed = self.config.seed
        ordinal = self.next_ordinal()
        account_id = derived_uuid("linked-account", seed, ordinal)
        now = self.clock.now_us()
        epoch = now if self.config.data_epoch_us is None else min(now, self.config.data_epoch_us)
        counts = spread_counts(self.schema.models_of(category), records)
        layouts = account_layouts(seed, account_id, counts, epoch)
        account_records = AccountRecords(self.generators, seed, account_id, layouts, epoch)
        tables = {}
        for spec in self.schema.models_of(category):
            parent_id = f"{category}.{spec.parent}" if spec.parent else None
            parent_count = layouts[parent_id].count if parent_id in layouts else 0
            tables[spec.model_id] = ModelTable(
                spec, layouts[spec.model_id], account_records, parent_count
            )
        company = self.pools.pick("company", hash64("org", seed, ordinal))
        origin = end_user_origin_id or f"end-user-{ordinal:04d}"
        account = LinkedAccount(
            id=account_id,
            account_token=_token("account-token", seed, ordinal),
            category=category,
            integration=integration_for(
                category, integration, self.config.integration_index + ordinal
            ),
            end_user_origin_id=origin,
            end_user_organization_name=end_user_organization_name or company,
            end_user_email_address=end_user_email_address or f"admin+{ordinal}@example.com",
            records=account_records,
            tables=tables,
            sync={},
            is_test=is_test,
            completed_at_us=now,
        )
        account.sync = {
            spec.model_id: self._initial_sync_row(spec.name, spec.model_id, now, initial_sync_done)
            for spec in self.schema.models_of(category)
        }
        account.sync_running = not initial_sync_done
        account.sync_is_initial = not initial_sync_done
        self.accounts[account.id] = account
        self.by_token[account.account_token] = account
        return account

    def _initial_sync_row(self, name: str, model_id: str, now: int, done: bool) -> ModelSync:
        if not done:
            return ModelSync(
                name, model_id, status="SYNCING", last_sync_start=now, is_initial_sync=True
            )
        finished = now - QUIET_US // 2
        return ModelSync(
            name,
            model_id,
            status="DONE",
            last_sync_start=finished - 10 * 60 * US_PER_SECOND,
            last_sync_finished=finished,
            last_sync_result="DONE",
            next_sync_start=finished + self.config.sync_interval_seconds * US_PER_SECOND,
            is_initial_sync=False,
        )

    def account_by_token(self, token: str | None) -> LinkedAccount | None:
        return self.by_token.get(token) if token else None

    def account_by_origin(self, end_user_origin_id: str) -> LinkedAccount | None:
        for account in self.accounts.values():
            if account.end_user_origin_id == end_user_origin_id:
                return account
        return None

    def delete_account(self, account: LinkedAccount) -> None:
        self.accounts.pop(account.id, None)
        self.by_token.pop(account.account_token, None)

    # -- records --------------------------------------------------------------------------

    def locate(self, account: LinkedAccount, model_id: str, record_id: str) -> int | None:
        """The index of ``record_id`` in ``model_id`` of ``account`` (None if it is not one)."""
        table = account.tables.get(model_id)
        parts = split(record_id)
        if table is None or parts is None:
            return None
        prefix, scrambled = parts
        if prefix != table.layout.ids.prefix:
            return None
        index = decode_index(table.layout.ids, scrambled)
        return index if table.exists(index) else None

    # -- tokens ---------------------------------------------------------------------------

    def new_link_token(self, request: LinkRequest) -> LinkRequest:
        self.link_requests[request.link_token] = request
        return request

    def make_token(self, kind: str) -> str:
        return _token(kind, self.config.seed, self.next_ordinal())
