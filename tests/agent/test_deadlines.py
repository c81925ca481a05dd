"""The run's watchdog: one system task expires every agent's late commands."""

from __future__ import annotations

import attrs
import trio
import trio.testing

from cti_fsm.deadlines import Watchdog, watchdog


@attrs.define
class Item:
    name: str
    log: list[tuple[str, float]]
    settled: bool = False

    def expire(self) -> None:
        self.log.append((self.name, trio.current_time()))
        self.settled = True


async def test_late_items_expire_at_their_deadlines_in_order(autojump_clock):
    log: list[tuple[str, float]] = []
    dog = watchdog()
    start = trio.current_time()
    dog.watch(start + 10, Item("ten", log))
    dog.watch(start + 5, Item("five", log))  # earlier than the one it sleeps for
    dog.watch(start + 5, Item("five again", log))  # a tie: in the order watched
    await trio.sleep(20)
    assert [(n, t - start) for n, t in log] == [("five", 5), ("five again", 5), ("ten", 10)]


async def test_settled_items_never_expire_and_leave_the_heap(autojump_clock):
    log: list[tuple[str, float]] = []
    dog = watchdog()
    now = trio.current_time()
    answered = [Item(f"answered {i}", log) for i in range(100)]
    for item in answered:
        dog.watch(now + 10, item)
        item.settled = True  # answered in time, as nearly every command is
    late = Item("late", log)
    dog.watch(now + 10, late)
    assert len(dog) == 1  # the answered ones were dropped on the way in
    await trio.sleep(11)
    assert log == [("late", now + 10)] and len(dog) == 0


async def test_one_watchdog_per_run() -> None:
    seen: list[Watchdog] = []

    async def look() -> None:
        seen.append(watchdog())
        seen.append(watchdog())

    await look()
    assert seen[0] is seen[1]


def test_each_run_has_its_own_watchdog() -> None:
    seen: list[Watchdog] = []

    async def look() -> None:
        seen.append(watchdog())

    trio.run(look)
    trio.run(look)
    assert seen[0] is not seen[1]
