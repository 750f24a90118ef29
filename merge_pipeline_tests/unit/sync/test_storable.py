"""NUL characters, which PostgreSQL text and jsonb cannot hold, made storable."""

from merge_pipeline.sync.storable import REPLACEMENT, exact_json, needs_cleaning, storable


def test_nul_in_nested_values_and_keys_is_replaced() -> None:
    value = {"a\x00": [{"b": "x\x00y"}], "c": 1}
    assert storable(value) == {f"a{REPLACEMENT}": [{"b": f"x{REPLACEMENT}y"}], "c": 1}


def test_a_value_without_nul_is_returned_as_is() -> None:
    value = {"a": ["b", {"c": None}]}
    assert storable(value) is value
    assert not needs_cleaning(value)


def test_exact_json_escapes_nul_so_text_can_hold_it() -> None:
    assert exact_json({"a": "x\x00"}) == '{"a":"x\\u0000"}'
