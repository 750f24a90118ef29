"""``make bench``: every benchmark, each printing ratios against its in-run ceiling."""

from benchmarks import upsert


def main() -> None:
    upsert.main([])


if __name__ == "__main__":
    main()
