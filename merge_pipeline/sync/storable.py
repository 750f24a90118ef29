"""What PostgreSQL cannot store, made storable (pure).

Merge may send U+0000 (NUL) inside strings: legal JSON, but PostgreSQL's ``text`` and ``jsonb``
cannot hold it, so one such character used to fail the whole page. Such a record is not bad
data: it is stored, with each NUL replaced by U+FFFD (the Unicode replacement character, the
standard stand-in for a character that cannot be represented) in its typed columns and in
``_raw``, while ``_raw_exact`` (type ``json``, which keeps ``\\u0000`` escapes verbatim) keeps
the record byte for byte as Merge sent it. ``_raw_exact`` is NULL for every other record.
"""

from typing import Any

import orjson

NUL = "\x00"
REPLACEMENT = "\ufffd"


def _clean(value: Any) -> tuple[bool, Any]:
    """``(changed, value without NUL)``; the value itself (not a copy) when nothing changed."""
    if isinstance(value, str):
        return (True, value.replace(NUL, REPLACEMENT)) if NUL in value else (False, value)
    if isinstance(value, dict):
        changed = False
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            key_changed, new_key = _clean(key)
            item_changed, new_item = _clean(item)
            changed = changed or key_changed or item_changed
            cleaned[new_key] = new_item
        return (True, cleaned) if changed else (False, value)
    if isinstance(value, list):
        results = [_clean(item) for item in value]
        if any(changed for changed, _ in results):
            return True, [item for _, item in results]
        return False, value
    return False, value


def needs_cleaning(value: Any) -> bool:
    """Whether ``value`` may hold a NUL anywhere (JSON writes one as ``\\u0000``).

    Serialising in C and searching the bytes costs a few microseconds a record, where walking
    the record in Python cost about 250: this runs for every record of every sync.
    """
    return b"\\u0000" in orjson.dumps(value)


def storable(value: Any) -> Any:
    """``value`` with every NUL (in strings and object keys) replaced by U+FFFD; ``value`` itself
    when it holds none."""
    return _clean(value)[1] if needs_cleaning(value) else value


def exact_json(value: Any) -> str:
    """The record as JSON text, NULs as ``\\u0000`` escapes (storable in ``json`` and ``text``)."""
    return orjson.dumps(value).decode()
