"""Schemas through their public API: what ``encode`` writes, ``decode`` reads back to an equal value, and what a
schema rejects is reported as ``SchemaIssues`` (a ``ValidationError`` from a job call)."""

from __future__ import annotations

from typing import Never

import pytest
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field

from durable_effect import Effect, Gen
from durable_effect.jobs import Continuous, ContinuousContext, create_durable_jobs
from durable_effect.schema import Schema, to_schema
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
