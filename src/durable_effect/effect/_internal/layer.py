"""Layers: recipes that build services (possibly with resources) to provide to an effect.

Within one ``provide`` a layer is built at most once: the build threads a memo, keyed by the layer object, through
every ``merge`` and ``provide`` of the graph, so a layer used in several places is shared (and released once).
A :class:`Context` is the already-built form: services by tag, provided as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Never, TypeVar, overload

from .context import Tag
from .core import Effect, OnExit, Provide, Succeed, Suspend
from .scope import Scope, ScopeService

ROut = TypeVar("ROut", covariant=True)
E = TypeVar("E", covariant=True)
RIn = TypeVar("RIn", covariant=True)
I = TypeVar("I")  # noqa: E741
S = TypeVar("S")
E2 = TypeVar("E2")
R2 = TypeVar("R2")
O1 = TypeVar("O1")
O2 = TypeVar("O2")
O3 = TypeVar("O3")
O4 = TypeVar("O4")
E1 = TypeVar("E1")
E3 = TypeVar("E3")
E4 = TypeVar("E4")
I1 = TypeVar("I1")
I2 = TypeVar("I2")
I3 = TypeVar("I3")
I4 = TypeVar("I4")
B = TypeVar("B")

Services = dict[object, Any]
Memo = dict["Layer[Any, Any, Any]", Services]
"""The services of each layer already built in one ``provide``, by layer object (layers hash by identity)."""
Build = Callable[[ScopeService, Memo], Effect[Services, Any, Any]]


class Layer(Generic[ROut, E, RIn]):
    """Builds the services ``ROut``, may fail with ``E``, needs ``RIn``.

    A layer is built once per ``provide`` and its resources are released when the provided effect ends. The same
    layer object used more than once in that ``provide`` (merged twice, or fed into several layers) is built once
    and its services are shared; its resources are released once, after everything built on them.
    """

    __slots__ = ("_build",)

    def __init__(self, build: Build) -> None:
        self._build = build

    @staticmethod
    def succeed(tag: type[Tag[I, S]], service: S) -> Layer[I, Never, Never]:
        """A layer holding an already-built service."""
        return Layer(lambda _scope, _memo: Succeed({tag: service}))

    @staticmethod
    def effect(tag: type[Tag[I, S]], effect: Effect[S, E2, R2]) -> Layer[I, E2, R2]:
        """A layer whose service is the value of ``effect`` (run once per ``provide``)."""
        return Layer(lambda _scope, _memo: effect.map(lambda service: {tag: service}))

    @staticmethod
    def scoped(tag: type[Tag[I, S]], effect: Effect[S, E2, R2]) -> Layer[I, E2, R2]:
        """Like :meth:`effect`, but ``acquire_release`` inside registers with the layer's scope."""

        def build(scope: ScopeService, _memo: Memo) -> Effect[Services, Any, Any]:
            built = effect.map(lambda service: {tag: service})
            return Provide(built, lambda ctx: {**ctx, Scope: scope})

        return Layer(build)

    @overload
    @staticmethod
    def merge(l1: Layer[O1, E1, I1], l2: Layer[O2, E2, I2], /) -> Layer[O1 | O2, E1 | E2, I1 | I2]: ...
    @overload
    @staticmethod
    def merge(
        l1: Layer[O1, E1, I1], l2: Layer[O2, E2, I2], l3: Layer[O3, E3, I3], /
    ) -> Layer[O1 | O2 | O3, E1 | E2 | E3, I1 | I2 | I3]: ...
    @overload
    @staticmethod
    def merge(
        l1: Layer[O1, E1, I1], l2: Layer[O2, E2, I2], l3: Layer[O3, E3, I3], l4: Layer[O4, E4, I4], /
    ) -> Layer[O1 | O2 | O3 | O4, E1 | E2 | E3 | E4, I1 | I2 | I3 | I4]: ...
    @staticmethod
    def merge(*layers: Layer[Any, Any, Any]) -> Layer[Any, Any, Any]:
        """One layer providing the services of all of them (built in order)."""

        def build(scope: ScopeService, memo: Memo) -> Effect[Services, Any, Any]:
            def body() -> Any:
                services: Services = {}
                for layer in layers:
                    services.update((yield from layer._memoized(scope, memo)))
                return services

            return Effect.gen(body)

        return Layer(build)

    def provide(self, other: Layer[O1, E2, R2]) -> Layer[ROut, E | E2, RIn | R2]:
        """Feed ``other``'s services into this layer's requirements (only this layer's services come out)."""

        def build(scope: ScopeService, memo: Memo) -> Effect[Services, Any, Any]:
            def with_inputs(inputs: Services) -> Effect[Services, Any, Any]:
                return Provide(self._memoized(scope, memo), lambda ctx: {**ctx, **inputs})

            return other._memoized(scope, memo).flat_map(with_inputs)

        return Layer(build)

    def build(self, scope: ScopeService) -> Effect[Services, E, RIn]:
        """The effect that builds this layer's services into ``scope`` (each layer in it once per run)."""
        return Suspend(lambda: self._memoized(scope, {}))

    def _memoized(self, scope: ScopeService, memo: Memo) -> Effect[Services, Any, Any]:
        """This layer's services: the ones already built in this ``provide``, else built now and remembered.

        Builds run one after another, so a layer is never asked for while its own build is still running; a build
        that fails ends the whole ``provide`` (the scope then releases whatever was acquired), so nothing is
        remembered for it.
        """

        def lookup() -> Effect[Services, Any, Any]:
            built = memo.get(self)
            if built is not None:
                return Succeed(built)

            def remember(services: Services) -> Services:
                memo[self] = services
                return services

            return self._build(scope, memo).map(remember)

        return Suspend(lookup)


class Context(Generic[ROut]):
    """Services that are already built, by tag: ``eff.provide(context)`` provides them as they are.

    ``Context.make(Tag, service)`` starts one, ``add`` and ``merge`` extend it (returning a new context; a later
    service for the same tag wins), ``Context.empty()`` holds nothing. ``ROut`` is the union of its tags.
    """

    __slots__ = ("_services",)

    def __init__(self, services: Services, /) -> None:
        # Not for direct use: ``make``/``empty``/``add``/``merge`` keep ``ROut`` in step with the services.
        self._services = services

    @staticmethod
    def empty() -> Context[Never]:
        """A context with no services."""
        return Context({})

    @staticmethod
    def make(tag: type[Tag[I, S]], service: S) -> Context[I]:
        """A context holding ``service`` for ``tag``."""
        return Context({tag: service})

    def add(self, tag: type[Tag[I, S]], service: S) -> Context[ROut | I]:
        """This context with ``service`` for ``tag`` too."""
        return Context({**self._services, tag: service})

    def merge(self, other: Context[O1]) -> Context[ROut | O1]:
        """The services of both contexts (``other``'s win where both have a tag)."""
        return Context({**self._services, **other._services})

    def __len__(self) -> int:
        return len(self._services)

    def __contains__(self, tag: object) -> bool:
        return tag in self._services

    def __repr__(self) -> str:
        tags = ", ".join(getattr(tag, "__name__", repr(tag)) for tag in self._services)
        return f"Context({tags})"


def provide_layer(effect: Effect[B, E2, R2], layer: Layer[Any, Any, Any]) -> Effect[B, Any, Any]:
    def run() -> Effect[B, Any, Any]:
        scope = ScopeService()

        def with_services(services: Services) -> Effect[B, Any, Any]:
            return Provide(effect, lambda ctx: {**ctx, **services})

        return OnExit(layer._memoized(scope, {}).flat_map(with_services), scope.close)

    return Suspend(run)


def provide_context(effect: Effect[B, E2, R2], context: Context[Any]) -> Effect[B, Any, Any]:
    services = context._services
    return Provide(effect, lambda ctx: {**ctx, **services})


def provide_any(effect: Effect[B, E2, R2], layer_or_context: object) -> Effect[B, Any, Any]:
    """``provide`` of either form; anything else is a ``TypeError`` now rather than a defect when it runs."""
    if isinstance(layer_or_context, Layer):
        return provide_layer(effect, layer_or_context)
    if isinstance(layer_or_context, Context):
        return provide_context(effect, layer_or_context)
    hint = (
        " (build a Context with Context.make(tag, service).add(...), or use provide_service)"
        if isinstance(layer_or_context, Mapping)
        else ""
    )
    raise TypeError(f"provide takes a Layer or a Context, got {type(layer_or_context).__name__}{hint}")
