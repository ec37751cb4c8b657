"""Combinators: sequencing, error handling, folding into values, and plumbing."""

from __future__ import annotations

from typing import Any, Never

import pytest
from returns.maybe import Nothing, Some
from returns.result import Failure, Success

from durable_effect import Cause, Die, Effect, Fail, Gen, Sequential, TaggedError

from ._support import failure_cause


class NotFound(TaggedError):
    id: str


class Conflict(TaggedError):
    id: str


class SpecialNotFound(NotFound):
    pass


class Tagged(TaggedError):
    _tag = "tagged/custom"


def defect_and_failure() -> Effect[int, NotFound, Never]:
    """A failure followed by a failing finalizer: the cause holds an error and a defect."""
    return Effect.fail(NotFound(id="a")).ensuring(Effect.die(RuntimeError("finalizer broke")))


# ---------------------------------------------------------------- sequencing


def test_map_flat_map_and_then() -> None:
    assert Effect.run_sync(Effect.succeed(2).map(lambda x: x * 10)) == 20
    assert Effect.run_sync(Effect.succeed(2).flat_map(lambda x: Effect.succeed(x + 1))) == 3
    assert Effect.run_sync(Effect.succeed(2).and_then(Effect.succeed("next"))) == "next"
    assert Effect.run_sync(Effect.succeed(2).and_then(lambda x: Effect.succeed(x * 3))) == 6


def test_bind_and_lash_are_the_returns_names() -> None:
    assert Effect.run_sync(Effect.succeed(2).bind(lambda x: Effect.succeed(x + 1))) == 3
    assert Effect.run_sync(Effect.fail("e").lash(lambda e: Effect.succeed(e + "!"))) == "e!"


def test_map_and_flat_map_skip_on_failure() -> None:
    calls: list[int] = []

    def record(x: int) -> int:
        calls.append(x)
        return x

    eff: Effect[int, str, Never] = Effect.fail("e")
    assert Effect.run_sync_exit(eff.map(record).flat_map(lambda x: Effect.succeed(record(x)))) == Failure(Fail("e"))
    assert calls == []


def test_exception_in_map_or_flat_map_function_is_a_defect() -> None:
    def bad(_: int) -> int:
        raise ValueError("in map")

    def bad_effect(_: int) -> Effect[int, Never, Never]:
        raise ValueError("in flat_map")

    for eff in (Effect.succeed(1).map(bad), Effect.succeed(1).flat_map(bad_effect)):
        cause = failure_cause(Effect.run_sync_exit(eff))
        assert isinstance(cause, Die) and isinstance(cause.defect, ValueError)


def test_tap_runs_for_effects_and_keeps_the_value() -> None:
    seen: list[int] = []
    eff = Effect.succeed(5).tap(lambda x: Effect.sync(lambda: seen.append(x)))
    assert Effect.run_sync(eff) == 5
    assert seen == [5]


def test_tap_failure_fails_the_whole_effect() -> None:
    eff = Effect.succeed(5).tap(lambda _: Effect.fail("tap failed"))
    assert Effect.run_sync_exit(eff) == Failure(Fail("tap failed"))


def test_tap_error_sees_the_error_and_keeps_failing_with_it() -> None:
    seen: list[str] = []
    eff = Effect.fail("boom").tap_error(lambda e: Effect.sync(lambda: seen.append(e)))
    assert Effect.run_sync_exit(eff) == Failure(Fail("boom"))
    assert seen == ["boom"]


def test_tap_error_ignores_defects_and_success() -> None:
    seen: list[object] = []
    boom = RuntimeError("x")
    Effect.run_sync_exit(Effect.die(boom).tap_error(lambda e: Effect.sync(lambda: seen.append(e))))
    Effect.run_sync_exit(Effect.succeed(1).tap_error(lambda e: Effect.sync(lambda: seen.append(e))))
    assert seen == []


def test_as_and_zip() -> None:
    assert Effect.run_sync(Effect.succeed(1).as_("x")) == "x"
    assert Effect.run_sync(Effect.succeed(1).zip(Effect.succeed("b"))) == (1, "b")
    order: list[str] = []
    first = Effect.sync(lambda: order.append("first"))
    second = Effect.sync(lambda: order.append("second"))
    Effect.run_sync(first.zip(second))
    assert order == ["first", "second"]


def test_zip_stops_at_the_first_failure() -> None:
    ran: list[str] = []
    eff = Effect.fail("e").zip(Effect.sync(lambda: ran.append("second")))
    assert Effect.run_sync_exit(eff) == Failure(Fail("e"))
    assert ran == []


# ---------------------------------------------------------------- errors


def test_map_error_maps_every_expected_error_and_leaves_defects() -> None:
    assert Effect.run_sync_exit(Effect.fail(1).map_error(lambda e: e + 1)) == Failure(Fail(2))
    boom = RuntimeError("d")
    die: Effect[int, int, Never] = Effect.die(boom)
    assert Effect.run_sync_exit(die.map_error(lambda e: e + 1)) == Failure(Die(boom))
    both = Effect.fail(1).ensuring(Effect.die(boom)).map_error(lambda e: e * 10)
    assert failure_cause(Effect.run_sync_exit(both)) == Sequential(Fail(10), Die(boom))


def test_catch_all_recovers_from_expected_errors() -> None:
    eff = Effect.fail(NotFound(id="x")).catch_all(lambda e: Effect.succeed(f"recovered {e.id}"))
    assert Effect.run_sync(eff) == "recovered x"


def test_catch_all_does_not_catch_defects() -> None:
    boom = RuntimeError("bug")
    die: Effect[int, str, Never] = Effect.die(boom)
    assert Effect.run_sync_exit(die.catch_all(lambda _: Effect.succeed(0))) == Failure(Die(boom))


def test_catch_all_does_not_hide_a_defect_next_to_the_error() -> None:
    eff = defect_and_failure().catch_all(lambda _: Effect.succeed(0))
    cause = failure_cause(Effect.run_sync_exit(eff))
    assert cause.failures() == [NotFound(id="a")]
    assert [str(d) for d in cause.defects()] == ["finalizer broke"]


def test_catch_all_handler_can_fail_with_a_new_error() -> None:
    eff = Effect.fail("first").catch_all(lambda e: Effect.fail(e + " then second"))
    assert Effect.run_sync_exit(eff) == Failure(Fail("first then second"))


def test_catch_all_cause_sees_defects() -> None:
    boom = RuntimeError("bug")
    die: Effect[int, str, Never] = Effect.die(boom)

    def handle(cause: Cause[str]) -> Effect[int, Never, Never]:
        return Effect.succeed(len(cause.defects()))

    assert Effect.run_sync(die.catch_all_cause(handle)) == 1


def test_catch_tag_by_class_and_by_string() -> None:
    failing: Effect[int, NotFound | Conflict, Never] = Effect.fail(NotFound(id="1"))
    by_class = failing.catch_tag(NotFound, lambda e: Effect.succeed(int(e.id)))
    by_string = failing.catch_tag("NotFound", lambda _: Effect.succeed(-1))
    assert Effect.run_sync(by_class) == 1
    assert Effect.run_sync(by_string) == -1


def test_catch_tag_leaves_other_errors_alone() -> None:
    failing: Effect[int, NotFound | Conflict, Never] = Effect.fail(Conflict(id="c"))
    eff = failing.catch_tag(NotFound, lambda _: Effect.succeed(0))
    assert Effect.run_sync_exit(eff) == Failure(Fail(Conflict(id="c")))
    eff2 = failing.catch_tag("NotFound", lambda _: Effect.succeed(0))
    assert Effect.run_sync_exit(eff2) == Failure(Fail(Conflict(id="c")))


def test_catch_tag_by_class_or_by_string_covers_subclasses() -> None:
    failing: Effect[int, NotFound, Never] = Effect.fail(SpecialNotFound(id="s"))
    assert Effect.run_sync(failing.catch_tag(NotFound, lambda e: Effect.succeed(e.id))) == "s"
    assert Effect.run_sync(failing.catch_tag("NotFound", lambda _: Effect.succeed("base"))) == "base"
    assert Effect.run_sync(failing.catch_tag("SpecialNotFound", lambda _: Effect.succeed("yes"))) == "yes"
    other: Effect[int, NotFound, Never] = Effect.fail(NotFound(id="n"))
    exit_ = Effect.run_sync_exit(other.catch_tag("SpecialNotFound", lambda _: Effect.succeed("no")))
    assert exit_ == Failure(Fail(NotFound(id="n")))  # a base instance does not have the subclass's tag


def test_catch_tag_with_an_overridden_tag_string() -> None:
    failing: Effect[int, Tagged, Never] = Effect.fail(Tagged())
    assert Effect.run_sync(failing.catch_tag("tagged/custom", lambda _: Effect.succeed(1))) == 1
    assert Effect.run_sync(failing.catch_tag(Tagged, lambda _: Effect.succeed(2))) == 2


def test_catch_tag_rejects_something_that_is_not_a_class_or_string() -> None:
    bad: Any = 42
    with pytest.raises(TypeError, match="error class or a _tag string"):
        Effect.fail(NotFound(id="a")).catch_tag(bad, lambda _: Effect.void)


def test_catch_tag_passes_defects_through() -> None:
    boom = RuntimeError("bug")
    die: Effect[int, NotFound, Never] = Effect.die(boom)
    assert Effect.run_sync_exit(die.catch_tag(NotFound, lambda _: Effect.succeed(0))) == Failure(Die(boom))
    eff = defect_and_failure().catch_tag(NotFound, lambda _: Effect.succeed(0))
    assert failure_cause(Effect.run_sync_exit(eff)).defects()


def test_catch_tags_handles_each_named_tag() -> None:
    def run(error: NotFound | Conflict | Tagged) -> Any:
        failing: Effect[str, NotFound | Conflict | Tagged, Never] = Effect.fail(error)
        eff = failing.catch_tags(
            NotFound=lambda e: Effect.succeed("not found"),
            Conflict=lambda e: Effect.succeed("conflict"),
        )
        return Effect.run_sync_exit(eff)

    assert run(NotFound(id="a")) == Success("not found")
    assert run(Conflict(id="b")) == Success("conflict")
    assert run(Tagged()) == Failure(Fail(Tagged()))


def test_catch_if_uses_the_predicate() -> None:
    def run(code: int) -> Any:
        failing: Effect[str, int, Never] = Effect.fail(code)
        return Effect.run_sync_exit(failing.catch_if(lambda c: c >= 500, lambda c: Effect.succeed(f"retry {c}")))

    assert run(503) == Success("retry 503")
    assert run(404) == Failure(Fail(404))


def test_or_else_with_an_effect_or_a_function() -> None:
    failing: Effect[int, str, Never] = Effect.fail("e")
    assert Effect.run_sync(failing.or_else(Effect.succeed(1))) == 1
    assert Effect.run_sync(failing.or_else(lambda: Effect.succeed(2))) == 2
    assert Effect.run_sync(Effect.succeed(0).or_else(Effect.succeed(1))) == 0


# ---------------------------------------------------------------- folding into values


def test_either() -> None:
    assert Effect.run_sync(Effect.succeed(1).either()) == Success(1)
    assert Effect.run_sync(Effect.fail("e").either()) == Failure("e")
    boom = RuntimeError("bug")
    assert Effect.run_sync_exit(Effect.die(boom).either()) == Failure(Die(boom))


def test_option() -> None:
    assert Effect.run_sync(Effect.succeed(1).option()) == Some(1)
    assert Effect.run_sync(Effect.fail("e").option()) == Nothing
    boom = RuntimeError("bug")
    assert Effect.run_sync_exit(Effect.die(boom).option()) == Failure(Die(boom))


def test_exit_captures_every_outcome() -> None:
    boom = RuntimeError("bug")
    assert Effect.run_sync(Effect.succeed(1).exit()) == Success(1)
    assert Effect.run_sync(Effect.fail("e").exit()) == Failure(Fail("e"))
    assert Effect.run_sync(Effect.die(boom).exit()) == Failure(Die(boom))


def test_match_folds_error_and_success() -> None:
    def run(eff: Effect[int, str, Never]) -> str:
        return Effect.run_sync(eff.match(on_failure=lambda e: f"error {e}", on_success=lambda a: f"value {a}"))

    assert run(Effect.succeed(1)) == "value 1"
    assert run(Effect.fail("x")) == "error x"
    boom = RuntimeError("bug")
    with pytest.raises(RuntimeError, match="bug"):
        run(Effect.die(boom))


# ---------------------------------------------------------------- plumbing


def test_pipe_applies_functions_left_to_right() -> None:
    def double(eff: Effect[int, Never, Never]) -> Effect[int, Never, Never]:
        return eff.map(lambda x: x * 2)

    def describe(eff: Effect[int, Never, Never]) -> Effect[str, Never, Never]:
        return eff.map(str)

    assert Effect.run_sync(Effect.succeed(3).pipe(double, double, describe)) == "12"


def test_effects_are_immutable_and_reusable() -> None:
    counter: list[int] = []
    base = Effect.sync(lambda: counter.append(1))
    mapped = base.map(lambda _: len(counter))
    assert Effect.run_sync(mapped) == 1
    assert Effect.run_sync(mapped) == 2
    assert Effect.run_sync(base.as_("x")) == "x"
    assert len(counter) == 3


def test_generator_body_with_error_handling_inside() -> None:
    @Effect.fn
    def lookup(key: str) -> Gen[str, NotFound, Never]:
        if key != "known":
            yield from NotFound(id=key)
        return "value"

    @Effect.fn
    def program() -> Gen[list[str], NotFound, Never]:  # catch_tag removes NotFound only with the plugin
        a = yield from lookup("known").catch_tag(NotFound, lambda e: Effect.succeed("default"))
        b = yield from lookup("other").catch_tag(NotFound, lambda e: Effect.succeed(f"default for {e.id}"))
        return [a, b]

    assert Effect.run_sync(program()) == ["value", "default for other"]
