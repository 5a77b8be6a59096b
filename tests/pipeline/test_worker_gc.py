"""The digest pauses the cyclic garbage collector per batch (a measured CPU saving, bench/ingest.py) and must
always give it back, also when a batch fails."""

from __future__ import annotations

import gc

import pytest

from faultline.pipeline.worker import no_cyclic_gc


def test_collector_is_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with no_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_is_restored_when_the_batch_raises() -> None:
    with pytest.raises(RuntimeError), no_cyclic_gc():
        raise RuntimeError("poison event")
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with no_cyclic_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cycles_made_by_a_batch_are_collected_after_it() -> None:
    class Node:
        pass

    gc.collect()
    with no_cyclic_gc():
        for _ in range(2000):
            a, b = Node(), Node()
            a.other, b.other = b, a  # type: ignore[attr-defined]
        del a, b
        alive_inside = sum(isinstance(o, Node) for o in gc.get_objects())
    alive_after = sum(isinstance(o, Node) for o in gc.get_objects())
    assert alive_inside == 4000 and alive_after == 0
