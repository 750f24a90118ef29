"""``make bench``: every benchmark, each printing ratios against its in-run ceiling."""

from benchmarks import dagster_overhead, expand, nested_policy, rate_limit, sync, upsert


def main() -> None:
    upsert.main([])
    print()
    sync.main([])
    print()
    sync.main(["--records", "30000", "--latency", "0.1"])
    print()
    expand.main([])
    print()
    nested_policy.main([])
    print()
    rate_limit.main([])
    print()
    dagster_overhead.main([])


if __name__ == "__main__":
    main()
