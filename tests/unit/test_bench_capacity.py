"""bench/common.py `highest_passing`: the capacity search the delegation bench prints (issue 19,
item 4) finds the last passing count with few probes."""

import pytest

from bench.common import highest_passing


@pytest.mark.parametrize("capacity", [0, 1, 2, 3, 7, 8, 9, 20, 33, 64])
def test_the_last_passing_count_is_found(capacity):
    probed = []

    def passes(count: int) -> bool:
        probed.append(count)
        return count <= capacity

    assert highest_passing(passes, limit=64) == capacity
    assert len(probed) == len(set(probed)) <= 13  # each count once, about 2 log2(limit)
    assert all(1 <= count <= 64 for count in probed)


def test_the_limit_caps_the_search():
    assert highest_passing(lambda count: True, limit=40) == 40
