"""Types: Exit, Cause and its helpers, TaggedError and the built-in errors, FiberFailure."""

from __future__ import annotations

import copy
import pickle
import typing

import pytest
from returns.result import Failure, Result, Success

from durable_effect import (
    Cause,
    Die,
    Effect,
    Exit,
    Fail,
    FiberFailure,
    Gen,
    Interrupt,
    NoSuchElementException,
    Parallel,
    Sequential,
    TaggedError,
    TimeoutException,
    UnknownException,
)


class NotFound(TaggedError):
    id: str


class Insufficient(TaggedError):
    needed: int
    available: int = 0


class Renamed(TaggedError):
    _tag = "custom/Renamed"


class Plain(TaggedError):
    pass


# ---------------------------------------------------------------- TaggedError


def test_tag_defaults_to_the_class_name_and_can_be_overridden() -> None:
    assert NotFound._tag == "NotFound"
    assert NotFound(id="a")._tag == "NotFound"
    assert Renamed._tag == "custom/Renamed"
    assert Plain._tag == "Plain"


def test_tagged_error_is_an_exception_with_keyword_fields() -> None:
    err = Insufficient(needed=5)
    assert isinstance(err, Exception)
    assert err.needed == 5
    assert err.available == 0
    with pytest.raises(TypeError):
        Insufficient(5)  # type: ignore[call-arg]


def test_tagged_error_equality_and_hash_follow_the_fields() -> None:
    assert NotFound(id="a") == NotFound(id="a")
    assert NotFound(id="a") != NotFound(id="b")
    assert hash(NotFound(id="a")) == hash(NotFound(id="a"))
    assert {NotFound(id="a"), NotFound(id="a")} == {NotFound(id="a")}


def test_tagged_errors_copy_and_pickle() -> None:
    error = Insufficient(needed=5, available=2)
    error.add_note("while paying")
    for twin in (copy.copy(error), copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert twin == error and twin is not error and twin.message == error.message
        assert twin.__notes__ == ["while paying"]
    assert pickle.loads(pickle.dumps(TimeoutException(duration_ms=5))) == TimeoutException(duration_ms=5)


def test_tagged_errors_of_different_classes_with_the_same_fields_differ() -> None:
    class Other(TaggedError):
        id: str

    assert NotFound(id="a") != Other(id="a")


def test_tagged_error_repr_and_message() -> None:
    err = Insufficient(needed=5, available=2)
    assert repr(err) == "Insufficient(needed=5, available=2)"
    assert err.message == "Insufficient(needed=5, available=2)"
    assert str(err) == err.message
    assert Plain().message == "Plain"
    assert str(Plain()) == "Plain"


def test_tagged_error_message_can_be_overridden() -> None:
    class Readable(TaggedError):
        user: str

        @property
        def message(self) -> str:
            return f"no user {self.user!r}"

    err = Readable(user="ada")
    assert str(err) == "no user 'ada'"
    assert err.args == ("no user 'ada'",)


def test_yield_from_a_tagged_error_fails_the_generator_effect() -> None:
    reached: list[str] = []

    @Effect.fn
    def body(balance: int) -> Gen[int, Insufficient, typing.Never]:
        if balance < 10:
            yield from Insufficient(needed=10, available=balance)
            reached.append("after")
        return balance

    assert Effect.run_sync_exit(body(3)) == Failure(Fail(Insufficient(needed=10, available=3)))
    assert Effect.run_sync(body(20)) == 20
    assert reached == []


def test_tagged_error_can_be_raised_and_caught_like_any_exception() -> None:
    with pytest.raises(NotFound) as info:
        raise NotFound(id="x")
    assert info.value.id == "x"


# ---------------------------------------------------------------- built-in errors


def test_unknown_exception_wraps_and_chains_the_caught_exception() -> None:
    boom = ValueError("boom")
    err = UnknownException(error=boom)
    assert err.error is boom
    assert err.__cause__ is boom
    assert err._tag == "UnknownException"
    assert "ValueError" in err.message and "boom" in err.message


def test_timeout_and_no_such_element_have_tags_and_messages() -> None:
    assert TimeoutException._tag == "TimeoutException"
    assert "1500" in TimeoutException(duration_ms=1500).message
    assert NoSuchElementException._tag == "NoSuchElementException"
    assert NoSuchElementException().message


# ---------------------------------------------------------------- Cause


def test_cause_leaves_and_helpers() -> None:
    boom = RuntimeError("boom")
    cause: Cause[str] = Sequential(Fail("a"), Parallel(Die(boom), Sequential(Interrupt(), Fail("b"))))
    assert cause.failures() == ["a", "b"]
    assert cause.defects() == [boom]
    assert cause.is_interrupted()
    assert not Fail("a").is_interrupted()
    assert Fail("a").failures() == ["a"]
    assert Die(boom).failures() == []
    assert Interrupt().defects() == []


def test_deeply_nested_causes_are_walked_without_recursion() -> None:
    cause: Cause[int] = Fail(0)
    for n in range(1, 20_000):  # what thousands of failing finalizers build
        cause = Sequential(cause, Fail(n)) if n % 2 else Parallel(cause, Fail(n))
    assert cause.failures() == list(range(20_000))
    assert cause.is_failure_only() and not cause.is_interrupted() and cause.defects() == []
    assert cause.pretty().count("Fail:") == 20_000


def test_cause_pretty_names_every_part_and_shows_defect_tracebacks() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        defect = exc
    text = Parallel(Fail(NotFound(id="a")), Sequential(Die(defect), Interrupt())).pretty()
    assert "Fail: NotFound(id='a')" in text
    assert "Die:" in text and "KeyError" in text and "Traceback" in text
    assert "Interrupt" in text


def test_cause_equality_is_structural() -> None:
    assert Fail(1) == Fail(1)
    assert Sequential(Fail(1), Interrupt()) == Sequential(Fail(1), Interrupt())
    assert Parallel(Fail(1), Fail(2)) != Parallel(Fail(2), Fail(1))
    assert Die(ValueError("x")) == Die(ValueError("x"))
    assert Die(ValueError("x")) != Die(TypeError("x"))


def test_cause_fields() -> None:
    boom = ValueError()
    assert Fail("e").error == "e"
    assert Die(boom).defect is boom
    seq = Sequential(Fail(1), Fail(2))
    assert (seq.left, seq.right) == (Fail(1), Fail(2))


# ---------------------------------------------------------------- Exit, FiberFailure, Gen


def test_exit_is_a_returns_result() -> None:
    ok: Exit[int, str] = Effect.run_sync_exit(Effect.succeed(1))
    assert ok == Success(1)
    assert isinstance(ok, Result)
    bad: Exit[int, str] = Effect.run_sync_exit(Effect.fail("e"))
    assert bad == Failure(Fail("e"))
    assert isinstance(bad, Result)


def test_fiber_failure_carries_the_cause() -> None:
    cause: Cause[str] = Parallel(Fail("a"), Fail("b"))
    failure = FiberFailure(cause)
    assert failure.cause is cause
    assert "Fail: 'a'" in str(failure)


def test_gen_and_exit_are_generic_aliases_with_params_in_order() -> None:
    assert [p.__name__ for p in Gen.__type_params__] == ["_A", "_E", "_R"]
    assert [p.__name__ for p in Exit.__type_params__] == ["_A", "_E"]
    assert typing.get_origin(Gen[int, str, typing.Never]) is Gen
