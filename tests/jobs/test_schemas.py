"""Schemas through their public API: what ``encode`` writes, ``decode`` reads back to an equal value, and what a
schema rejects is reported as ``SchemaIssues`` (a ``ValidationError`` from a job call)."""

from __future__ import annotations

import datetime
import math
from dataclasses import InitVar, dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal, Never, NewType, cast

import pytest
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field

from durable_effect import Effect, Gen
from durable_effect.jobs import Continuous, ContinuousContext, ValidationError, create_durable_jobs
from durable_effect.schema import DataclassSchema, Schema, SchemaIssues, to_schema
from durable_effect.testing import JobsHarness

from ._support import MINUTE, START, run

# ---------------------------------------------------------------- pydantic aliases


class Aliased(BaseModel):
    user_id: int = Field(alias="userId")
    runs: int = 0


class PopulatedByName(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    user_id: int = Field(alias="userId")


class SerializationAlias(BaseModel):
    user_id: int = Field(serialization_alias="uid")


class ValidationAlias(BaseModel):
    user_id: int = Field(validation_alias=AliasChoices("uid", "userId"))


class SerializedByAlias(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)
    user_id: int = Field(alias="userId")


class Nested(BaseModel):
    inner: Aliased = Field(alias="Inner")


class Forbids(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def doubled(self) -> int:
        return self.n * 2


@pytest.mark.parametrize(
    "value",
    [
        Aliased(userId=7),
        PopulatedByName.model_validate({"user_id": 7}),
        SerializationAlias(user_id=7),
        ValidationAlias.model_validate({"uid": 7}),
        SerializedByAlias(userId=7),
        Nested(Inner=Aliased(userId=7, runs=2)),
        Forbids(n=3),
    ],
)
def test_a_pydantic_model_round_trips_whatever_its_aliases(value: BaseModel) -> None:
    schema: Schema[BaseModel] = to_schema(type(value))
    assert schema.decode(schema.encode(value)) == value


def test_a_pydantic_model_still_decodes_its_alias() -> None:
    assert to_schema(Aliased).decode({"userId": 7}) == Aliased(userId=7)
    assert to_schema(ValidationAlias).decode({"userId": 7}) == ValidationAlias.model_validate({"uid": 7})


@Effect.fn
def count_runs(ctx: ContinuousContext[Aliased]) -> Gen[None, Never, Never]:
    state = yield from ctx.state
    yield from ctx.set_state(state.model_copy(update={"runs": state.runs + 1}))


@pytest.mark.anyio
async def test_a_job_whose_pydantic_state_has_an_alias_runs() -> None:
    ticker = Continuous.make(state_schema=Aliased, schedule=Continuous.every("1 minute"), execute=count_runs)
    h = JobsHarness(create_durable_jobs({"ticker": ticker}), start_time=START)
    client = h.client.continuous(ticker)
    await run(client.start("a", input=Aliased(userId=7)))
    await h.advance(MINUTE)
    assert await run(client.get_state("a")) == Aliased(userId=7, runs=2)


# ---------------------------------------------------------------- dataclasses: encode checks what it writes


@dataclass(frozen=True)
class Counter:
    n: int
    label: str = ""


def test_a_dataclass_encode_refuses_a_field_of_the_wrong_type() -> None:
    schema = DataclassSchema(Counter)
    with pytest.raises(SchemaIssues) as info:
        schema.encode(Counter(n="2", label=3))  # type: ignore[arg-type]
    assert info.value.issues == ["n: expected int, got str", "label: expected str, got int"]


@dataclass(frozen=True)
class Inner:
    values: list[int]


@dataclass(frozen=True)
class Outer:
    inner: Inner
    by_key: dict[str, float]


def test_a_dataclass_encode_names_a_nested_field_of_the_wrong_type() -> None:
    schema = DataclassSchema(Outer)
    with pytest.raises(SchemaIssues) as info:
        schema.encode(Outer(Inner([1, "x"]), {"a": math.nan}))  # type: ignore[list-item]
    assert info.value.issues == [
        "inner.values[1]: expected int, got str",
        "by_key.a: nan is NaN or infinite (JSON has neither)",
    ]
    value = Outer(Inner([1, 2]), {"a": 1.5})
    assert schema.decode(schema.encode(value)) == value


@Effect.fn
def stringify(ctx: ContinuousContext[Counter]) -> Gen[None, Never, Never]:
    state = yield from ctx.state
    yield from ctx.set_state(replace(state, n=str(state.n + 1)))  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_dataclass_state_of_the_wrong_type_fails_the_call_and_writes_nothing() -> None:
    ticker = Continuous.make(state_schema=Counter, schedule=Continuous.every("1 minute"), execute=stringify)
    h = JobsHarness(create_durable_jobs({"ticker": ticker}), start_time=START)
    with pytest.raises(ValidationError) as info:
        await run(h.client.continuous(ticker).start("a", input=Counter(1)))
    assert info.value.issues == ["n: expected int, got str"]
    assert h.store.instance_ids() == []


# ---------------------------------------------------------------- dataclasses: only JSON, types checked up front


@dataclass(frozen=True)
class Loose:
    extra: Any


@pytest.mark.parametrize("value", [{1, 2}, datetime.datetime(2024, 1, 1), {"a": (1, object())}, math.inf])
def test_an_any_field_holds_json_only(value: object) -> None:
    schema = DataclassSchema(Loose)
    with pytest.raises(SchemaIssues) as info:
        schema.encode(Loose(value))
    assert info.value.issues[0].startswith("extra: ")
    with pytest.raises(SchemaIssues):
        schema.decode({"extra": value})
    assert schema.decode(schema.encode(Loose({"a": [1, None, "b"]}))) == Loose({"a": [1, None, "b"]})


@Effect.fn
def stamp(ctx: ContinuousContext[Loose]) -> Gen[None, Never, Never]:
    yield from ctx.set_state(Loose(datetime.datetime(2024, 1, 1)))


@pytest.mark.anyio
async def test_a_non_json_state_is_a_validation_error() -> None:
    stamped = Continuous.make(state_schema=Loose, schedule=Continuous.every("1 minute"), execute=stamp)
    h = JobsHarness(create_durable_jobs({"stamped": stamped}), start_time=START)
    with pytest.raises(ValidationError) as info:
        await run(h.client.continuous(stamped).start("a", input=Loose(1)))
    assert info.value.issues[0].startswith("extra: not JSON data")
    assert h.store.instance_ids() == []


@dataclass
class WithDate:
    when: datetime.datetime


@dataclass
class WithSet:
    tags: set[str]


@dataclass
class WithIntKeys:
    counts: dict[int, int]


@dataclass
class WithBadNested:
    inner: WithDate | None = None


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (WithDate, "WithDate.when"),
        (WithSet, "WithSet.tags"),
        (WithIntKeys, "WithIntKeys.counts"),
        (WithBadNested, "WithDate.when"),
    ],
)
def test_an_unsupported_field_type_is_refused_when_the_schema_is_made(cls: type[Any], field: str) -> None:
    with pytest.raises(TypeError, match=field):
        to_schema(cls)
    with pytest.raises(TypeError, match=field):
        Continuous.make(state_schema=cls, schedule=Continuous.every("1 minute"), execute=stamp)


@dataclass(frozen=True)
class Shapes:
    point: tuple[int, int] = (0, 0)
    path: tuple[float, ...] = ()
    label: tuple[str, int | None] | None = None


def test_tuple_fields_round_trip() -> None:
    schema = DataclassSchema(Shapes)
    for value in [Shapes(), Shapes((1, 2), (0.5, 1.5), ("a", None))]:
        data = schema.encode(value)
        assert schema.decode(data) == value
    assert schema.encode(Shapes((1, 2))) == {"point": [1, 2], "path": [], "label": None}
    assert schema.decode({"point": [3, 4]}) == Shapes((3, 4))
    with pytest.raises(SchemaIssues, match="point: expected a list of 2 items, got 3 items"):
        schema.decode({"point": [1, 2, 3]})
    with pytest.raises(SchemaIssues, match=r"point\[1\]: expected int, got str"):
        schema.encode(Shapes((1, "2")))  # type: ignore[arg-type]


# ---------------------------------------------------------------- dataclasses: what the class itself decides


@dataclass(frozen=True)
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("n must be >= 0")


@dataclass
class Derived:
    n: int
    doubled: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.doubled = self.n * 2


def test_a_dataclass_that_refuses_its_values_is_a_schema_issue() -> None:
    schema = DataclassSchema(Positive)
    with pytest.raises(SchemaIssues) as info:
        schema.decode({"n": -1})
    assert info.value.issues == ["(root): Positive: ValueError: n must be >= 0"]


def test_a_field_the_class_sets_itself_is_not_written() -> None:
    schema = DataclassSchema(Derived)
    assert schema.encode(Derived(2)) == {"n": 2}
    assert schema.decode(schema.encode(Derived(2))) == Derived(2)
    assert schema.decode(Derived(3)).doubled == 6
    with pytest.raises(SchemaIssues, match="doubled: unknown field"):
        schema.decode({"n": 2, "doubled": 4})


@dataclass
class NeedsInitVar:
    n: int
    scale: InitVar[int]


def test_a_dataclass_no_data_can_build_is_refused_when_the_schema_is_made() -> None:
    with pytest.raises(TypeError, match=r"NeedsInitVar\.scale"):
        DataclassSchema(NeedsInitVar)


@Effect.fn
def keep(ctx: ContinuousContext[Any]) -> Gen[None, Never, Never]:
    yield from ctx.state


@pytest.mark.anyio
async def test_jobs_with_checked_and_derived_dataclass_states() -> None:
    positive = Continuous.make(state_schema=Positive, schedule=Continuous.every("1 minute"), execute=keep)
    derived = Continuous.make(state_schema=Derived, schedule=Continuous.every("1 minute"), execute=keep)
    h = JobsHarness(create_durable_jobs({"positive": positive, "derived": derived}), start_time=START)
    with pytest.raises(ValidationError, match="n must be >= 0"):
        await run(h.client.continuous(positive).start("a", input=cast(Positive, {"n": -1})))
    await run(h.client.continuous(derived).start("a", input=Derived(2)))
    await h.advance(MINUTE)
    assert await run(h.client.continuous(derived).get_state("a")) == Derived(2)


# ---------------------------------------------------------------- dataclasses: exact types


@dataclass(frozen=True)
class Base:
    x: int


@dataclass(frozen=True)
class Sub(Base):
    y: int = 0


@dataclass(frozen=True)
class Holder:
    base: Base


def test_a_subclass_instance_is_encoded_as_the_schema_class() -> None:
    assert DataclassSchema(Base).encode(Sub(1, 2)) == {"x": 1}
    assert DataclassSchema(Base).decode(DataclassSchema(Base).encode(Sub(1, 2))) == Base(1)
    holder = DataclassSchema(Holder)
    assert holder.decode(holder.encode(Holder(Sub(1, 2)))) == Holder(Base(1))


def test_an_instance_missing_a_field_is_a_schema_issue() -> None:
    broken = Base.__new__(Base)
    with pytest.raises(SchemaIssues, match="x: missing"):
        DataclassSchema(Base).encode(broken)


@dataclass(frozen=True)
class Choice:
    one: Literal[1]
    mode: Literal["a", "b", None] = None


@pytest.mark.parametrize("one", [True, 1.0, "1"])
def test_a_literal_matches_type_and_value(one: object) -> None:
    schema = DataclassSchema(Choice)
    with pytest.raises(SchemaIssues, match="one: expected one of"):
        schema.decode({"one": one})
    with pytest.raises(SchemaIssues, match="one: expected one of"):
        schema.encode(Choice(one))  # type: ignore[arg-type]
    assert schema.decode(schema.encode(Choice(1, "b"))) == Choice(1, "b")


@dataclass(frozen=True)
class Counts:
    by_name: dict[str, int]


def test_dict_keys_must_be_strings() -> None:
    schema = DataclassSchema(Counts)
    with pytest.raises(SchemaIssues, match="by_name: keys must be strings, got 1"):
        schema.decode({"by_name": {1: 2}})
    with pytest.raises(SchemaIssues, match="by_name: keys must be strings, got 1"):
        schema.encode(Counts({1: 2}))  # type: ignore[dict-item]
    assert schema.decode(schema.encode(Counts({"a": 2}))) == Counts({"a": 2})


UserId = NewType("UserId", str)


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Keyed:
    scores: dict[UserId, int]
    sides: dict[Literal["left", "right"], int]
    color: Literal[Color.RED]


def test_dataclass_keys_may_be_str_newtypes_or_string_literals_and_literals_enum_members() -> None:
    schema: Schema[Keyed] = to_schema(Keyed)
    value = Keyed(scores={UserId("ada"): 3}, sides={"left": 1}, color=Color.RED)
    data = schema.encode(value)
    assert data == {"scores": {"ada": 3}, "sides": {"left": 1}, "color": "red"}
    assert schema.decode(data) == value and type(schema.decode(data).color) is Color
    with pytest.raises(SchemaIssues, match="not one of"):
        schema.decode({**data, "sides": {"up": 1}})
    with pytest.raises(SchemaIssues, match="expected one of"):
        schema.encode(Keyed(scores={}, sides={}, color=Color.BLUE))  # type: ignore[arg-type]


class Swap(BaseModel):
    a: int = Field(alias="b")
    b: int = Field(alias="c")


class Camel(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda name: "".join(part.title() if n else part for n, part in enumerate(name.split("_"))),
        serialize_by_alias=True,
    )
    user_id: int


def test_pydantic_aliases_naming_other_fields_and_serialize_by_alias_are_kept() -> None:
    swap: Schema[Swap] = to_schema(Swap)
    data = swap.encode(Swap(b=1, c=2))
    assert data == {"b": 1, "c": 2} and swap.decode(data) == Swap(b=1, c=2)  # by alias: no field fills another
    camel: Schema[Camel] = to_schema(Camel)
    ada = Camel.model_validate({"userId": 1})
    assert camel.encode(ada) == {"userId": 1}  # stored as the model serializes it
    assert camel.decode({"userId": 1}) == ada
