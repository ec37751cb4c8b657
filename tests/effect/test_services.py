"""Services and layers: tags, provide_service, Layer.succeed/effect/scoped/merge/provide, default services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Never

import pytest
from returns.result import Failure, Success

from durable_effect import (
    Context,
    Effect,
    Exit,
    Fail,
    Gen,
    Layer,
    MissingServiceError,
    Random,
    RandomService,
    Scope,
    ScopeService,
    Tag,
    TaggedError,
)

from ._support import failure_cause, provided


@dataclass
class AccountsService:
    balances: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> Effect[int, NotFound, Never]:
        if name in self.balances:
            return Effect.succeed(self.balances[name])
        return Effect.fail(NotFound(id=name))


class NotFound(TaggedError):
    id: str


class Accounts(Tag["Accounts", AccountsService]):
    pass


class Greeting(Tag["Greeting", str]):
    pass


class Counter(Tag["Counter", list[int]]):
    pass


class Broken(TaggedError):
    pass


def test_tag_classes_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="service tag"):
        Accounts()


def test_tags_have_a_key() -> None:
    assert Accounts.key.endswith("Accounts")
    assert Accounts.key != Greeting.key


def test_service_and_provide_service() -> None:
    @Effect.fn
    def balance(name: str) -> Gen[int, NotFound, Accounts]:
        accounts = yield from Effect.service(Accounts)
        return (yield from accounts.get(name))

    impl = AccountsService({"ada": 10})
    assert Effect.run_sync(provided(balance("ada").provide_service(Accounts, impl))) == 10
    exit_ = Effect.run_sync_exit(provided(balance("bob").provide_service(Accounts, impl)))
    assert exit_ == Failure(Fail(NotFound(id="bob")))


def test_a_missing_service_is_a_defect_naming_the_tag() -> None:
    eff = provided(Effect.service(Greeting))
    with pytest.raises(MissingServiceError, match="Greeting"):
        Effect.run_sync(eff)


def test_inner_provide_shadows_outer_and_is_restored_after() -> None:
    @Effect.fn
    def body() -> Gen[list[str], Never, Greeting]:
        before = yield from Effect.service(Greeting)
        inner = yield from Effect.service(Greeting).provide_service(Greeting, "inner")
        after = yield from Effect.service(Greeting)
        return [before, inner, after]

    eff = provided(body().provide_service(Greeting, "outer"))
    assert Effect.run_sync(eff) == ["outer", "inner", "outer"]


def test_provided_service_is_restored_after_a_failure_inside() -> None:
    inner: Effect[str, str, Never] = provided(
        Effect.service(Greeting).flat_map(lambda _: Effect.fail("x")).provide_service(Greeting, "inner")
    )
    eff = inner.catch_all(lambda _: Effect.service(Greeting))
    assert Effect.run_sync(provided(eff.provide_service(Greeting, "outer"))) == "outer"


def test_layer_succeed() -> None:
    eff = provided(Effect.service(Greeting).provide(Layer.succeed(Greeting, "hi")))
    assert Effect.run_sync(eff) == "hi"


def test_layer_effect_is_built_once_per_provide() -> None:
    builds: list[int] = []

    def build() -> list[int]:
        builds.append(1)
        return []

    layer = Layer.effect(Counter, Effect.sync(build))

    @Effect.fn
    def body() -> Gen[bool, Never, Counter]:
        first = yield from Effect.service(Counter)
        second = yield from Effect.service(Counter)
        return first is second

    eff = provided(body().provide(layer))
    assert Effect.run_sync(eff) is True
    assert builds == [1]
    Effect.run_sync(eff)
    assert builds == [1, 1]  # each run of the provided effect builds the layer once


def test_layer_build_failure_fails_the_effect() -> None:
    ran: list[str] = []
    layer = Layer.effect(Greeting, Effect.fail(Broken()))
    eff = provided(Effect.sync(lambda: ran.append("body")).provide(layer))
    assert Effect.run_sync_exit(eff) == Failure(Fail(Broken()))
    assert ran == []


def _resource_layer(events: list[str], tag_name: str, tag: type[Tag[Any, str]]) -> Layer[Any, Never, Any]:
    def release(value: str, exit_: Exit[object, object]) -> Effect[None, Never, Never]:
        return Effect.sync(
            lambda: events.append(f"release {value} ({'ok' if isinstance(exit_, Success) else 'failed'})")
        )

    acquire = Effect.sync(lambda: events.append(f"acquire {tag_name}")).as_(tag_name)
    return Layer.scoped(tag, Effect.acquire_release(acquire, release))


def test_layer_scoped_releases_after_the_effect_ends() -> None:
    events: list[str] = []
    layer = _resource_layer(events, "greeting", Greeting)

    @Effect.fn
    def body() -> Gen[str, Never, Greeting]:
        value = yield from Effect.service(Greeting)
        events.append(f"use {value}")
        return value

    assert Effect.run_sync(provided(body().provide(layer))) == "greeting"
    assert events == ["acquire greeting", "use greeting", "release greeting (ok)"]


def test_layer_scoped_releases_on_failure_too() -> None:
    events: list[str] = []
    layer = _resource_layer(events, "greeting", Greeting)
    eff = provided(Effect.service(Greeting).flat_map(lambda _: Effect.fail("boom")).provide(layer))
    assert Effect.run_sync_exit(eff) == Failure(Fail("boom"))
    assert events == ["acquire greeting", "release greeting (failed)"]


def test_layer_merge_provides_all_and_releases_in_reverse() -> None:
    events: list[str] = []

    class Other(Tag["Other", str]):
        pass

    merged = Layer.merge(_resource_layer(events, "greeting", Greeting), _resource_layer(events, "other", Other))

    @Effect.fn
    def body() -> Gen[str, Never, Greeting | Other]:
        a = yield from Effect.service(Greeting)
        b = yield from Effect.service(Other)
        return f"{a}+{b}"

    assert Effect.run_sync(provided(body().provide(merged))) == "greeting+other"
    assert events == ["acquire greeting", "acquire other", "release other (ok)", "release greeting (ok)"]


def test_layer_provide_feeds_another_layers_services() -> None:
    config = Layer.succeed(Greeting, "hello")
    accounts = Layer.effect(
        Accounts, Effect.service(Greeting).map(lambda greeting: AccountsService({greeting: len(greeting)}))
    )
    wired = accounts.provide(config)
    eff = provided(Effect.service(Accounts).flat_map(lambda a: a.get("hello")).provide(wired))
    assert Effect.run_sync(eff) == 5


def test_layer_provide_exposes_only_the_outer_layers_services() -> None:
    wired = Layer.effect(Accounts, Effect.succeed(AccountsService())).provide(Layer.succeed(Greeting, "hidden"))
    eff = provided(Effect.service(Greeting).provide(wired))
    with pytest.raises(MissingServiceError):
        Effect.run_sync(eff)


def test_provide_a_context_by_chaining_provide_service() -> None:
    eff = provided(
        Effect.service(Greeting)
        .zip(Effect.service(Counter))
        .provide_service(Greeting, "g")
        .provide_service(Counter, [1])
    )
    assert Effect.run_sync(eff) == ("g", [1])


class Db(Tag["Db", str]):
    pass


class Other(Tag["Other", str]):
    pass


def _using_db(events: list[str], tag: type[Tag[Any, str]], name: str) -> Layer[Any, Never, Any]:
    """A scoped layer for ``tag`` whose resource is built from the ``Db`` service."""

    def acquire(db: str) -> Effect[str, Never, Never]:
        return Effect.sync(lambda: events.append(f"acquire {name}")).as_(f"{name}+{db}")

    def release(value: str, _exit: Exit[object, object]) -> Effect[None, Never, Never]:
        return Effect.sync(lambda: events.append(f"release {name}"))

    return Layer.scoped(tag, Effect.acquire_release(Effect.service(Db).flat_map(acquire), release))


def test_a_layer_fed_into_two_layers_is_built_once_per_provide() -> None:
    events: list[str] = []
    db = _resource_layer(events, "db", Db)
    wired = Layer.merge(_using_db(events, Greeting, "a").provide(db), _using_db(events, Other, "b").provide(db))
    eff = provided(Effect.all((Effect.service(Greeting), Effect.service(Other))).provide(wired))
    assert Effect.run_sync(eff) == ("a+db", "b+db")
    # one db, shared, released once after everything built on it
    assert events == ["acquire db", "acquire a", "acquire b", "release b", "release a", "release db (ok)"]


def test_a_layer_merged_twice_is_built_once() -> None:
    events: list[str] = []
    db = _resource_layer(events, "db", Db)
    assert Effect.run_sync(provided(Effect.service(Db).provide(Layer.merge(db, db)))) == "db"
    assert events == ["acquire db", "release db (ok)"]


def test_a_layer_shared_through_provide_chains_and_merge_is_built_once() -> None:
    events: list[str] = []
    db = _resource_layer(events, "db", Db)
    a = _using_db(events, Greeting, "a").provide(db)
    b = _using_db(events, Other, "b").provide(Layer.merge(db, a))
    eff = provided(Effect.all([Effect.service(Db), Effect.service(Greeting), Effect.service(Other)]))
    assert Effect.run_sync(eff.provide(Layer.merge(db, a, b))) == ["db", "a+db", "b+db"]
    assert events == ["acquire db", "acquire a", "acquire b", "release b", "release a", "release db (ok)"]


def test_a_shared_layer_is_released_once_when_a_later_build_fails() -> None:
    events: list[str] = []
    db = _resource_layer(events, "db", Db)
    broken = Layer.effect(Other, Effect.service(Db).flat_map(lambda _: Effect.fail(Broken()))).provide(db)
    wired = Layer.merge(_using_db(events, Greeting, "a").provide(db), broken)
    ran: list[str] = []
    eff = provided(Effect.sync(lambda: ran.append("body")).provide(wired))
    assert Effect.run_sync_exit(eff) == Failure(Fail(Broken()))
    assert ran == []
    assert events == ["acquire db", "acquire a", "release a", "release db (failed)"]


def test_each_provide_builds_its_layers_afresh() -> None:
    events: list[str] = []
    db = _resource_layer(events, "db", Db)
    inner = Effect.service(Db).provide(db)
    eff = provided(Effect.all([inner, Effect.service(Db)]).provide(db))
    assert Effect.run_sync(eff) == ["db", "db"]
    assert events == ["acquire db", "acquire db", "release db (ok)", "release db (ok)"]
    events.clear()
    Effect.run_sync(provided(Effect.service(Db).provide(Layer.merge(db, db))))
    Effect.run_sync(provided(Effect.service(Db).provide(Layer.merge(db, db))))
    assert events == ["acquire db", "release db (ok)"] * 2


def test_layer_build_into_a_scope_builds_each_layer_once() -> None:
    events: list[str] = []
    db = _resource_layer(events, "db", Db)
    scope = ScopeService()
    services = Effect.run_sync(provided(Layer.merge(db, db).build(scope)))
    assert services == {Db: "db"}
    assert events == ["acquire db"]
    Effect.run_sync(scope.close(Success(None)))
    assert events == ["acquire db", "release db (ok)"]


def test_provide_a_context() -> None:
    context = Context.make(Greeting, "hello").add(Counter, [1])
    eff = Effect.all((Effect.service(Greeting), Effect.service(Counter))).provide(context)
    assert Effect.run_sync(eff) == ("hello", [1])


def test_a_context_is_provided_only_inside_and_shadows_outer_services() -> None:
    @Effect.fn
    def body() -> Gen[list[str], Never, Greeting]:
        before = yield from Effect.service(Greeting)
        inner = yield from Effect.service(Greeting).provide(Context.make(Greeting, "inner"))
        after = yield from Effect.service(Greeting)
        return [before, inner, after]

    assert Effect.run_sync(provided(body().provide_service(Greeting, "outer"))) == ["outer", "inner", "outer"]


def test_context_add_and_merge_return_new_contexts_where_later_services_win() -> None:
    base = Context.make(Greeting, "first")
    added = base.add(Greeting, "second")
    other = Context.make(Greeting, "third").add(Counter, [3])
    merged = base.merge(other)
    assert Effect.run_sync(provided(Effect.service(Greeting).provide(base))) == "first"
    assert Effect.run_sync(provided(Effect.service(Greeting).provide(added))) == "second"
    assert Effect.run_sync(provided(Effect.service(Greeting).provide(merged))) == "third"
    assert (len(base), len(merged), Counter in merged, Counter in base) == (1, 2, True, False)
    assert repr(merged) == "Context(Greeting, Counter)"
    assert len(Context.empty()) == 0
    assert Effect.run_sync(Effect.succeed(1).provide(Context.empty())) == 1


def test_provide_rejects_anything_but_a_layer_or_a_context_when_called() -> None:
    eff = Effect.service(Greeting)
    with pytest.raises(TypeError, match=r"provide takes a Layer or a Context, got dict \(build a Context"):
        eff.provide({Greeting: "hi"})  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"provide takes a Layer or a Context, got str$"):
        eff.provide("hi")  # type: ignore[call-overload]


def test_random_is_a_default_service_and_seedable() -> None:
    def draws(seed: int) -> list[float]:
        eff = Effect.all([Random.next() for _ in range(5)])
        return Effect.run_sync(eff.provide_service(Random, Random.seeded(seed)))

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert all(0.0 <= x < 1.0 for x in draws(7))
    assert 0.0 <= Effect.run_sync(Random.next()) < 1.0  # the default, unseeded


def test_random_service_helpers() -> None:
    rng = RandomService(3)
    again = RandomService(3)
    assert [rng.next_int(1, 6) for _ in range(10)] == [again.next_int(1, 6) for _ in range(10)]
    assert all(2.0 <= rng.next_between(2.0, 3.0) < 3.0 for _ in range(100))
    assert len(rng.next_bytes(8)) == 8


def test_scope_is_a_tag_without_default() -> None:
    eff = provided(Effect.acquire_release(Effect.succeed(1), lambda _r, _e: Effect.void))
    cause = failure_cause(Effect.run_sync_exit(eff))
    assert [type(d) for d in cause.defects()] == [MissingServiceError]
    assert "Scope" in str(cause.defects()[0])
    assert Scope.key.endswith("Scope")


def test_a_service_tag_cannot_be_subclassed() -> None:
    """Services are looked up by their exact tag: a subclass would be a requirement the parent cannot meet."""
    with pytest.raises(TypeError, match="service tag Greeting cannot be subclassed"):

        class LoudGreeting(Greeting):
            pass


def test_a_tag_is_named_after_its_own_class() -> None:
    """The type checker knows a tag by the name in ``Tag["Name", S]``: another class's name would be a lie."""
    with pytest.raises(TypeError, match='first argument is its own class name, "Replica"'):

        class Replica(Tag["Greeting", str]):
            pass


class Settings(Tag["Settings", str]):
    @classmethod
    def default(cls) -> str:
        raise RuntimeError("SETTINGS_PATH is not set")


def test_a_default_service_that_fails_is_a_defect_and_finalizers_run() -> None:
    ran: list[str] = []

    @Effect.fn
    def body() -> Gen[str, Never, Settings]:
        return (yield from Effect.service(Settings))

    effects: list[Effect[str, Never, Any]] = [Effect.service(Settings), body()]  # run relying on the default
    for effect in effects:
        exit_ = Effect.run_sync_exit(effect.ensuring(Effect.sync(lambda: ran.append("finalizer"))))
        assert [str(defect) for defect in failure_cause(exit_).defects()] == ["SETTINGS_PATH is not set"]
    assert ran == ["finalizer", "finalizer"]
