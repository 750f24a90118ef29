"""The demo's banner names the receiver and says which special account is which."""

from pathlib import Path

from sqlalchemy.engine import make_url

from merge_pipeline.demo import SANDBOX_CATEGORIES, banner
from merge_pipeline.demo_accounts import SPECIAL_ACCOUNTS, special_banner_lines

WAREHOUSE = make_url("postgresql://postgres@/merge_pipeline?host=/tmp/pg")


def test_the_banner_names_the_receiver_its_log_and_merges_sync_interval() -> None:
    lines = banner(
        "http://127.0.0.1:3000",
        "http://127.0.0.1:8765/api",
        9,
        WAREHOUSE,
        Path("/d/demo.env"),
        "http://127.0.0.1:8010/webhooks/merge",
        Path("/d/receiver.log"),
    )
    assert lines[2] == (
        "webhook receiver:  http://127.0.0.1:8010/webhooks/merge   (registered with the sandbox; "
        "log: /d/receiver.log); Merge syncs every account every 180s"
    )


def test_each_special_account_gets_a_line_with_its_id_and_what_to_look_for() -> None:
    created = [(s, {"id": f"id-{s.key}"}) for s in SPECIAL_ACCOUNTS]
    lines = special_banner_lines(created)
    assert [line.split()[:3] for line in lines] == [
        [s.key, f"id-{s.key}", f"({s.category}):"] for s in SPECIAL_ACCOUNTS
    ]


def test_special_accounts_are_relinkable_by_distinct_origin_ids_in_demo_categories() -> None:
    origins = [s.origin_id for s in SPECIAL_ACCOUNTS]
    assert len(set(origins)) == len(origins)
    assert {s.category for s in SPECIAL_ACCOUNTS} <= set(SANDBOX_CATEGORIES.split(","))
