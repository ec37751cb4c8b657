# Stubs for ``pyodide.ffi`` (Pyodide 0.28+ / 314): proxies between Python and JavaScript.
# Signatures follow Pyodide's own ``_pyodide/_core_docs.py``; only what JS interop code here needs.
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from typing import Any, Final, Generic, ParamSpec, TypeVar, overload

_T = TypeVar("_T")
_S = TypeVar("_S")
_KT = TypeVar("_KT")
_VT = TypeVar("_VT")
_P = ParamSpec("_P")

IN_PYODIDE: bool

class JsProxy:
    """A proxy of a JavaScript object; attribute access and calls reach the JS object."""

    @property
    def js_id(self) -> int: ...
    @property
    def typeof(self) -> str: ...
    def new(self, *args: Any, **kwargs: Any) -> Any: ...
    def to_py(
        self,
        *,
        depth: int = -1,
        default_converter: Callable[[JsProxy, Callable[[JsProxy], Any], Callable[[JsProxy, Any], None]], Any]
        | None = None,
    ) -> Any: ...
    def object_keys(self) -> JsArray[str]: ...
    def __getattr__(self, name: str) -> Any: ...

class JsPromise(JsProxy, Generic[_T]):
    """A JS ``Promise`` (or thenable); awaiting it yields its value or raises :class:`JsException`."""

    def __await__(self) -> Generator[Any, None, _T]: ...
    @overload
    def then(
        self,
        onfulfilled: Callable[[_T], Awaitable[_S]],
        onrejected: Callable[[BaseException], Awaitable[_S]] | None = None,
        /,
    ) -> JsPromise[_S]: ...
    @overload
    def then(
        self, onfulfilled: Callable[[_T], _S], onrejected: Callable[[BaseException], _S] | None = None, /
    ) -> JsPromise[_S]: ...
    def catch(self, onrejected: Callable[[BaseException], _S], /) -> JsPromise[_S]: ...
    def finally_(self, onfinally: Callable[[], None], /) -> JsPromise[_T]: ...

class JsIterable(JsProxy, Generic[_T]):
    def __iter__(self) -> Iterator[_T]: ...

class JsArray(JsIterable[_T], Generic[_T]):
    def __getitem__(self, idx: int) -> _T: ...
    def __len__(self) -> int: ...
    def to_py(self, *, depth: int = -1, default_converter: Any = None) -> list[Any]: ...

class JsMap(JsIterable[_KT], Generic[_KT, _VT]):
    def __getitem__(self, key: _KT) -> _VT: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object) -> bool: ...
    def keys(self) -> Iterable[_KT]: ...
    def values(self) -> Iterable[_VT]: ...
    def items(self) -> Iterable[tuple[_KT, _VT]]: ...
    def get(self, key: _KT, default: _VT | None = None, /) -> _VT | None: ...
    def to_py(self, *, depth: int = -1, default_converter: Any = None) -> dict[Any, Any]: ...

class JsCallable(JsProxy, Generic[_P, _T]):
    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T: ...

class JsDoubleProxy(JsProxy, Generic[_T]):
    """A JS ``PyProxy`` of a Python object, kept alive until :meth:`destroy`."""

    def destroy(self) -> None: ...
    def unwrap(self) -> _T: ...

class JsCallableDoubleProxy(JsDoubleProxy[Callable[_P, _T]], JsCallable[_P, _T], Generic[_P, _T]): ...

class JsOnceCallable(JsCallable[_P, _T], Generic[_P, _T]):
    def destroy(self) -> None: ...

class JsException(JsProxy, Exception):
    """A JavaScript error raised into Python."""

    name: str
    message: str
    stack: str

class ConversionError(Exception): ...

class JsNull:
    """JavaScript ``null`` (``undefined`` arrives as ``None``)."""

    def __bool__(self) -> bool: ...

jsnull: Final[JsNull]

def to_js(
    obj: Any,
    /,
    *,
    depth: int = -1,
    pyproxies: JsProxy | None = None,
    create_pyproxies: bool = True,
    dict_converter: Callable[[Iterable[JsArray[Any]]], JsProxy] | None = None,
    default_converter: Callable[[Any, Callable[[Any], JsProxy], Callable[[Any, JsProxy], None]], JsProxy] | None = None,
    eager_converter: Callable[[Any, Callable[[Any], JsProxy], Callable[[Any, JsProxy], None]], JsProxy] | None = None,
) -> Any: ...
@overload
def create_proxy(
    obj: Callable[_P, _T], /, *, capture_this: bool = False, roundtrip: bool = True
) -> JsCallableDoubleProxy[_P, _T]: ...
@overload
def create_proxy(obj: _T, /, *, capture_this: bool = False, roundtrip: bool = True) -> JsDoubleProxy[_T]: ...
def create_once_callable(obj: Callable[_P, _T], /) -> JsOnceCallable[_P, _T]: ...
def destroy_proxies(pyproxies: JsArray[Any], /) -> None: ...
def run_sync(x: Awaitable[_T]) -> _T: ...
def can_run_sync() -> bool: ...
def register_js_module(name: str, jsproxy: Any) -> None: ...
def unregister_js_module(name: str) -> None: ...

__all__ = [
    "ConversionError",
    "IN_PYODIDE",
    "JsArray",
    "JsCallable",
    "JsCallableDoubleProxy",
    "JsDoubleProxy",
    "JsException",
    "JsIterable",
    "JsMap",
    "JsNull",
    "JsOnceCallable",
    "JsPromise",
    "JsProxy",
    "create_once_callable",
    "create_proxy",
    "destroy_proxies",
    "jsnull",
    "register_js_module",
    "run_sync",
    "to_js",
    "unregister_js_module",
]
