"""Record ids: UUID-shaped, deterministic, and invertible without a lookup table.

The low 62 bits are a keyed bijection of the record index; the high 64 bits are
``prefix(seed, account, model)`` XOR a hash of the low bits (so ids look random), with the
RFC 4122 version-5 and variant bits set. Retrieving ``/employees/{id}``
or resolving an expanded reference decodes the id instead of searching 1,000,000 records.
"""

import uuid
from dataclasses import dataclass
from functools import lru_cache

from merge_sandbox.hashing import hash64, quick

_BITS = 62
_MASK = (1 << _BITS) - 1
_MULT = 0x2545F4914F6CDD1D & _MASK | 1  # odd, hence invertible modulo 2**62
_MULT_INV = pow(_MULT, -1, 1 << _BITS)
_VERSION_BITS = 0xF << 12
_SPREAD_SALT = 0x6A09E667F3BCC909


@dataclass(frozen=True, slots=True)
class IdSpace:
    """The ids of one model of one linked account."""

    prefix: int  # 64 bits, version nibble already set
    key: int  # 62-bit XOR key

    @classmethod
    def for_model(cls, seed: int, account_id: str, model_id: str) -> "IdSpace":
        raw = hash64("id-prefix", seed, account_id, model_id)
        prefix = (raw & ~_VERSION_BITS) | (0x5 << 12)  # version 5
        return cls(prefix=prefix, key=hash64("id-key", seed, account_id, model_id) & _MASK)

    def encode(self, index: int) -> str:
        return _encode(self.prefix, self.key, index)


@lru_cache(maxsize=1 << 16)
def _encode(prefix: int, key: int, index: int) -> str:
    """Cached: references to small tables (companies, locations) repeat the same ids a lot."""
    scrambled = ((index * _MULT) & _MASK) ^ key
    low = (0b10 << _BITS) | scrambled  # RFC 4122 variant
    high = prefix ^ _spread(scrambled)
    text = "%016x%016x" % (high, low)  # noqa: UP031 - the fastest formatting here
    return "-".join((text[:8], text[8:12], text[12:16], text[16:20], text[20:]))


def _spread(scrambled: int) -> int:
    return quick(scrambled, _SPREAD_SALT) & ~_VERSION_BITS


def split(record_id: str) -> tuple[int, int] | None:
    """``(prefix, scrambled index)`` of an id, or None when it is not a UUID."""
    try:
        value = uuid.UUID(record_id).int
    except ValueError:
        return None
    scrambled = value & _MASK
    return (value >> 64) ^ _spread(scrambled), scrambled


def decode_index(space: IdSpace, scrambled: int) -> int:
    return ((scrambled ^ space.key) * _MULT_INV) & _MASK


def derived_uuid(*parts: object) -> str:
    """A deterministic uuid for things that are never looked up (nested line items...)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "\x1f".join(str(p) for p in parts)))
