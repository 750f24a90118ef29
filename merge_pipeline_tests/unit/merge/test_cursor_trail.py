"""A listing's cursors: any repeat is a cycle; endless and empty listings are bounded."""

from merge_pipeline.merge.cursor_trail import MAX_EMPTY_PAGES, CursorTrail, TrailProblem


def test_a_cycle_of_two_pages_is_seen() -> None:
    trail = CursorTrail(max_pages=100)
    assert trail.step("A", page_was_empty=False) is None
    assert trail.step("B", page_was_empty=False) is None
    assert trail.step("A", page_was_empty=False) is TrailProblem.CYCLE


def test_a_next_back_to_the_starting_cursor_is_a_cycle() -> None:
    trail = CursorTrail(max_pages=100, start="S")
    assert trail.step("S", page_was_empty=False) is TrailProblem.CYCLE


def test_a_listing_longer_than_the_bound_is_refused() -> None:
    trail = CursorTrail(max_pages=3)
    verdicts = [trail.step(f"c{i}", page_was_empty=False) for i in range(3)]
    assert verdicts == [None, None, TrailProblem.TOO_MANY_PAGES]


def test_endless_empty_pages_are_refused() -> None:
    trail = CursorTrail(max_pages=10_000)
    verdicts = [trail.step(f"c{i}", page_was_empty=True) for i in range(MAX_EMPTY_PAGES + 1)]
    assert verdicts[-1] is TrailProblem.EMPTY_PAGES
    assert set(verdicts[:-1]) == {None}
