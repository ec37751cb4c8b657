"""Service tags and the per-fiber context that carries services and fiber-local values."""

from __future__ import annotations

from typing import Any, ClassVar, ForwardRef, Generic, TypeVar, get_args, get_origin

Id = TypeVar("Id")
S = TypeVar("S")


class Tag(Generic[Id, S]):
    """A service tag: subclass it as ``class Accounts(Tag["Accounts", AccountsService]): ...``.

    The subclass itself is the requirement type that appears in an effect's ``R``; ``S`` is the type of
    the service value. A tag with a ``default()`` is satisfied even when nothing provides it.
    """

    key: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__bases__:
            if base is not Tag and isinstance(base, type) and issubclass(base, Tag):
                # A service is provided and looked up by its exact tag class: a subclass would be a different
                # requirement that providing the parent does not satisfy.
                raise TypeError(f"service tag {base.__name__} cannot be subclassed; declare a new Tag instead")
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Tag:
                identity = get_args(base)[0]
                name = identity.__forward_arg__ if isinstance(identity, ForwardRef) else identity
                if isinstance(name, str) and name != cls.__name__:
                    # The type checker takes the identity from this name: another class's would let providing
                    # that class satisfy this one's requirement.
                    raise TypeError(
                        f'class {cls.__name__}(Tag["{name}", ...]): a tag\'s first argument is its own class name, '
                        f'"{cls.__name__}"'
                    )
        cls.key = f"{cls.__module__}.{cls.__qualname__}"

    def __init__(self) -> None:
        raise TypeError(f"{type(self).__name__} is a service tag: use the class itself, do not instantiate it")

    @classmethod
    def default(cls) -> Any:
        """The service used when none is provided; tags without a default raise ``LookupError``."""
        raise LookupError(cls.__name__)


class MissingServiceError(LookupError):
    """A service was required at run time but never provided (a defect: the type checker should stop it)."""

    def __init__(self, tag: type[Tag[Any, Any]]) -> None:
        super().__init__(
            f"service {tag.__name__} is not provided: add .provide_service({tag.__name__}, impl) "
            f"or .provide(layer) before running the effect"
        )
        self.tag = tag


# Fiber-local values live in the same context dict as services, under private keys.
class FiberRef:
    """A private context key for a fiber-local value (log annotations, spans, minimum log level, scope)."""

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: Any) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"FiberRef({self.name})"


Context = dict[object, Any]
"""Services by tag class and fiber-local values by :class:`FiberRef`; never mutated once shared."""


def lookup_service(ctx: Context, tag: type[Tag[Any, Any]]) -> Any:
    try:
        return ctx[tag]
    except KeyError:
        pass
    try:
        service = tag.default()
    except LookupError:
        raise MissingServiceError(tag) from None
    return service
