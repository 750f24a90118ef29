"""Cheap, stable 64-bit hashing for deterministic fake data.

One keyed BLAKE2b per record, then a SplitMix64 step per field: generating a field costs a few
integer operations instead of a hash or a Faker call.
"""

import hashlib

MASK64 = (1 << 64) - 1


def hash64(*parts: object) -> int:
    """A stable 64-bit hash of the parts' text (not Python's salted ``hash``)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def mix(value: int, salt: int) -> int:
    """SplitMix64 finaliser of ``value ^ salt``: well spread, fast, pure Python ints."""
    z = (value ^ salt) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def quick(value: int, salt: int) -> int:
    """One multiply-xorshift round: weaker than ``mix`` but cheap enough for every field."""
    z = ((value ^ salt) * 0x9E3779B97F4A7C15) & MASK64
    return z ^ (z >> 29)


def unit(value: int) -> float:
    """Map a 64-bit hash to [0, 1)."""
    return (value >> 11) / float(1 << 53)
