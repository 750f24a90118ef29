"""Pools of realistic values, built once per seed with Faker and then indexed by hash.

Faker is slow (tens of microseconds a call); picking ``pool[h % len(pool)]`` is not. A few
thousand values per kind are plenty for data that only needs to look plausible.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from faker import Faker

POOL_SIZE = 512


@dataclass(frozen=True)
class Pools:
    """Value pools by kind; ``pick(kind, h)`` is the only way records read them."""

    values: dict[str, tuple[str, ...]]

    def pick(self, kind: str, h: int) -> str:
        pool = self.values[kind]
        return pool[h % len(pool)]

    def __contains__(self, kind: str) -> bool:
        return kind in self.values


def _pool(make: Callable[[], str], size: int = POOL_SIZE) -> tuple[str, ...]:
    return tuple(make() for _ in range(size))


def build_pools(seed: int, size: int = POOL_SIZE) -> Pools:
    """Build every pool from one seeded Faker (deterministic for a given seed)."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    first = _pool(fake.first_name, size)
    last = _pool(fake.last_name, size)
    full = tuple(f"{f} {ln}" for f, ln in zip(first, last, strict=True))
    domains = _pool(fake.domain_name, max(16, size // 8))
    emails = tuple(
        f"{f.lower()}.{ln.lower()}@{domains[i % len(domains)]}"
        for i, (f, ln) in enumerate(zip(first, last, strict=True))
    )
    kinds: dict[str, Sequence[str]] = {
        "first_name": first,
        "last_name": last,
        "full_name": full,
        "email": emails,
        "username": tuple(
            f"{f.lower()}{ln[:1].lower()}" for f, ln in zip(first, last, strict=True)
        ),
        "company": _pool(fake.company, size),
        "phone": _pool(fake.phone_number, size),
        "url": _pool(fake.url, size),
        "image_url": _pool(lambda: fake.image_url(width=256, height=256), size // 4),
        "job_title": _pool(fake.job, size),
        "sentence": _pool(fake.sentence, size),
        "paragraph": _pool(lambda: fake.paragraph(nb_sentences=3), size // 2),
        "words": _pool(lambda: " ".join(fake.words(nb=3)).title(), size),
        "word": _pool(fake.word, size),
        "city": _pool(fake.city, size),
        "street": _pool(fake.street_address, size),
        "secondary": _pool(fake.secondary_address, size // 4),
        "state": _pool(fake.state_abbr, 64),
        "postcode": _pool(fake.postcode, size),
        "country_code": _pool(fake.country_code, 64),
        "currency": _pool(fake.currency_code, 64),
        "file_name": _pool(fake.file_name, size),
        "mime_type": _pool(fake.mime_type, 64),
        "color": _pool(fake.hex_color, 64),
        "bank": _pool(lambda: f"{fake.last_name()} Bank", 64),
        "iban": _pool(fake.iban, size // 4),
        "timezone": _pool(fake.timezone, 64),
        "code": _pool(lambda: fake.bothify("??-####").upper(), size),
        "label": ("WORK", "PERSONAL", "MOBILE", "HOME", "OTHER", "PRIMARY"),
    }
    return Pools(values={k: tuple(v) for k, v in kinds.items()})
