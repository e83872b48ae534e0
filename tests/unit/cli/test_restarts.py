"""The restart decisions of ``aiops up``: backoff schedule, reset after a healthy run, giving up."""

from __future__ import annotations

from services.cli._restarts import GiveUp, Restart, RestartPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(clock: FakeClock) -> RestartPolicy:
    return RestartPolicy(clock=clock)  # the real timings: 1 s doubling to 30 s, 60 s healthy, 3 tries


def run_for(p: RestartPolicy, clock: FakeClock, seconds: float, code: int = 1) -> Restart | GiveUp:
    p.started()
    clock.now += seconds
    return p.exited(code)


def test_starts_are_spaced_one_second_doubling_up_to_thirty() -> None:
    clock = FakeClock()
    p = policy(clock)
    run_for(p, clock, 20.0)  # it started fine once: later quick crashes are crashes, not a bad configuration
    decisions = [run_for(p, clock, 0.25) for _ in range(8)]
    # Each delay is the spacing left after the 0.25 s the run lasted.
    assert [d.delay for d in decisions if isinstance(d, Restart)] == [
        1.75,
        3.75,
        7.75,
        15.75,
        29.75,
        29.75,
        29.75,
        29.75,
    ]
    assert [d.count for d in decisions if isinstance(d, Restart)] == list(range(2, 10))


def test_a_process_killed_mid_run_is_started_again_at_once() -> None:
    # Killed twice within a minute (at 15% and 45% of a run): the spacing (1 s, then 2 s) has already
    # passed since its start, so its work does not wait on a delay meant for processes that crash on start.
    clock = FakeClock()
    p = policy(clock)
    assert run_for(p, clock, 12.0, code=-9) == Restart(0.0, 1)
    assert run_for(p, clock, 1.5, code=-9) == Restart(0.5, 2)
    assert run_for(p, clock, 30.0, code=-9) == Restart(0.0, 3)


def test_a_run_of_sixty_seconds_resets_the_delay_but_not_the_count() -> None:
    clock = FakeClock()
    p = policy(clock)
    run_for(p, clock, 20.0)
    for _ in range(4):
        run_for(p, clock, 0.5)
    assert run_for(p, clock, 59.0) == Restart(0.0, 6)  # 32 s of spacing due, capped at 30, and 59 s passed
    assert run_for(p, clock, 0.5) == Restart(29.5, 7)
    assert run_for(p, clock, 60.0) == Restart(0.0, 8)
    assert run_for(p, clock, 0.5) == Restart(1.5, 9)  # the spacing starts again from 1 s, then 2 s


def test_gives_up_when_the_first_three_runs_all_end_within_seconds() -> None:
    clock = FakeClock()
    p = policy(clock)
    assert run_for(p, clock, 0.5) == Restart(0.5, 1)
    assert run_for(p, clock, 1.5) == Restart(0.5, 2)
    assert run_for(p, clock, 0.5) == GiveUp(3)


def test_does_not_give_up_when_one_early_run_lasted() -> None:
    clock = FakeClock()
    p = policy(clock)
    run_for(p, clock, 0.5)
    run_for(p, clock, 15.0)  # started fine, then crashed: a crash, not a bad configuration
    decisions = [run_for(p, clock, 0.5) for _ in range(10)]
    assert all(isinstance(d, Restart) for d in decisions)


def test_a_configuration_error_is_given_up_on_however_slowly_it_came() -> None:
    # On a loaded machine a service may take longer than quick_exit to read its settings and exit 2.
    clock = FakeClock()
    p = policy(clock)
    assert run_for(p, clock, 14.0, code=2) == Restart(0.0, 1)
    assert run_for(p, clock, 12.0, code=2) == Restart(0.0, 2)
    assert run_for(p, clock, 11.0, code=2) == GiveUp(3)


def test_a_process_that_ran_long_then_crashes_quickly_is_restarted_forever() -> None:
    clock = FakeClock()
    p = policy(clock)
    run_for(p, clock, 3600.0)
    decisions = [run_for(p, clock, 0.5) for _ in range(10)]
    assert all(isinstance(d, Restart) for d in decisions)
    assert decisions[-1] == Restart(29.5, 11)


def test_timings_are_constructor_arguments() -> None:
    clock = FakeClock()
    p = RestartPolicy(
        first_delay=0.125, max_delay=0.5, healthy_after=2.0, quick_exit=0.5, tries=2, clock=clock
    )
    assert run_for(p, clock, 1.0) == Restart(0.0, 1)
    assert run_for(p, clock, 0.0625) == Restart(0.1875, 2)
    assert run_for(p, clock, 0.0625) == Restart(0.4375, 3)
    assert run_for(p, clock, 0.0625) == Restart(0.4375, 4)
    assert run_for(p, clock, 2.0) == Restart(0.0, 5)
    assert run_for(p, clock, 0.0625) == Restart(0.1875, 6)
    fresh = RestartPolicy(quick_exit=0.5, tries=2, clock=clock)
    assert run_for(fresh, clock, 0.25) == Restart(0.75, 1)
    assert run_for(fresh, clock, 0.25) == GiveUp(2)
