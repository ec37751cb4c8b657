"""Tagged errors: expected failures as data, plus the built-in ones and ``FiberFailure``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Never, Self, TypeVar

from typing_extensions import dataclass_transform

from .cause import Cause

if TYPE_CHECKING:
    from .core import Effect

B = TypeVar("B")


@dataclass_transform(kw_only_default=True, eq_default=True)
class TaggedError(Exception):
    """Base class of expected errors.

    Declare fields as annotations; construct with keywords (``NotFound(id="a")``). ``_tag`` is the class
    name unless overridden. ``yield from NotFound(id="a")`` inside a generator body fails the effect with it.
    """

    _tag: ClassVar[str] = "TaggedError"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_tag" not in cls.__dict__:
            cls._tag = cls.__name__
        # Fields become a keyword-only __init__; equality and repr are defined below on the base.
        dataclasses.dataclass(eq=False, repr=False, kw_only=True)(cls)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    @property
    def message(self) -> str:
        """A readable one-line description; override for a better one."""
        fields = ", ".join(f"{name}={value!r}" for name, value in self._field_items())
        return f"{self._tag}({fields})" if fields else self._tag

    def _field_items(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]  # type: ignore[arg-type,unused-ignore]

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._field_items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._field_items() == other._field_items()

    def __hash__(self) -> int:
        try:
            return hash((type(self), tuple(self._field_items())))
        except TypeError:
            return id(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickling replays ``args`` positionally, which a keyword-only __init__ refuses.
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}  # type: ignore[arg-type,unused-ignore]
        return (_rebuild, (type(self), fields), self.__dict__ or None)

    def __iter__(self) -> Generator[Effect[Never, Self, Never], Any, Never]:
        from .core import Failure

        yield Failure(_fail(self))
        raise AssertionError("a failed effect never resumes its generator")  # pragma: no cover


def _rebuild(cls: type[TaggedError], fields: dict[str, Any]) -> TaggedError:
    return cls(**fields)


def _fail(error: Any) -> Cause[Any]:
    from .cause import Fail

    return Fail(error)


class UnknownException(TaggedError):
    """An exception caught by ``Effect.try_``/``try_promise`` without a ``catch``; ``error`` is that exception."""

    error: BaseException

    def __post_init__(self) -> None:
        super().__post_init__()
        self.__cause__ = self.error

    @property
    def message(self) -> str:
        return f"UnknownException: {type(self.error).__name__}: {self.error}"


class TimeoutException(TaggedError):
    """``Effect.timeout`` ran out of time."""

    duration_ms: float = 0

    @property
    def message(self) -> str:
        return f"TimeoutException: timed out after {self.duration_ms:g} ms"


class NoSuchElementException(TaggedError):
    """A value was expected but there was none (``from_maybe`` of ``Nothing``)."""

    @property
    def message(self) -> str:
        return "NoSuchElementException: expected a value, got nothing"


class FiberFailure(Exception):
    """Raised by ``run_sync``/``run_promise`` when the cause is not a single error or defect."""

    def __init__(self, cause: Cause[Any]) -> None:
        super().__init__(cause.pretty())
        self.cause = cause


def attempt(thunk: Callable[[], B], catch: Callable[[Exception], Any] | None) -> Effect[B, Any, Any]:
    """Run ``thunk`` now; its exception becomes an expected failure (``UnknownException`` or ``catch(exc)``)."""
    from .core import Failure, Succeed

    try:
        return Succeed(thunk())
    except Exception as exc:
        return Failure(_fail(UnknownException(error=exc) if catch is None else catch(exc)))


def tag_matcher(tag: type[Any] | str) -> Callable[[object], bool]:
    """A predicate recognising errors of ``tag``: a class or a ``_tag`` string, subclasses included."""
    if isinstance(tag, str):
        # Like the class form, a string catches subclasses too: an error matches when its class or a base
        # declares that tag (each TaggedError class has its own ``_tag``, its name unless overridden).
        return lambda error: any(vars(cls).get("_tag") == tag for cls in type(error).__mro__)
    if not isinstance(tag, type):
        raise TypeError(f"catch_tag expects an error class or a _tag string, got {tag!r}")
    return lambda error: isinstance(error, tag)
