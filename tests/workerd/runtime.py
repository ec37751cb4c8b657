"""Offline harness for running Python Workers and Durable Objects under the real ``workerd`` runtime.

The harness has three parts:

* :func:`ensure_toolchain` installs the pinned npm packages ``workerd`` and ``pyodide`` into a cache
  directory and builds the Pyodide runtime bundle ``pyodide_dev.capnp.bin`` that ``workerd`` loads
  (with the ``python_workers_development`` compatibility flag) instead of downloading one.
* :func:`write_config` writes a ``Workerd.Config`` (Cap'n Proto text) for one Python Worker with
  Durable Object namespaces stored on local disk; :func:`collect_package` and
  :func:`collect_installed` turn pure-Python packages into worker modules.
* :class:`WorkerdProcess` / :func:`start_workerd` run ``workerd serve`` on ``127.0.0.1``, wait until
  it answers HTTP, and stop it again (a stopped process can be started again on the same storage).

Nothing here touches the network except ``npm install`` (the npm registry) and HTTP to 127.0.0.1.
See ``tests/workerd/README.md`` for the flags and the bundle layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import http.client
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

__all__ = [
    "BUNDLE_FILE_NAME",
    "COMPATIBILITY_DATE",
    "COMPATIBILITY_FLAGS",
    "PYODIDE_VERSION",
    "WORKERD_VERSION",
    "Binding",
    "DataModule",
    "DurableObjectNamespace",
    "ExternalService",
    "JsModule",
    "JsWorker",
    "JsonBinding",
    "Module",
    "PythonModule",
    "RawBinding",
    "Socket",
    "TextBinding",
    "Toolchain",
    "ToolchainError",
    "WorkerdProcess",
    "WorkerdStartupError",
    "collect_installed",
    "collect_package",
    "ensure_toolchain",
    "free_port",
    "patch_pyodide_glue",
    "start_workerd",
    "write_config",
]

# ---------------------------------------------------------------------------------------------
# Pinned versions and runtime facts

WORKERD_VERSION: Final = "1.20261117.1"
"""npm version of ``workerd``. The bundle layout depends on it: pin it together with Pyodide."""

PYODIDE_VERSION: Final = "314.0.6"
"""npm version of ``pyodide`` whose glue, wasm and stdlib go into the bundle."""

COMPATIBILITY_DATE: Final = "2026-11-01"

COMPATIBILITY_FLAGS: Final[tuple[str, ...]] = (
    "python_workers",
    # Load ``<bundle dir>/pyodide_dev.capnp.bin`` from disk: no download, no checksum.
    "python_workers_development",
    # Without this a newer release bundle is selected, which workerd would try to download.
    "no_python_workers_20250116",
    # Use the ``workers`` SDK built into workerd instead of a vendored PyPI copy.
    "disable_python_external_sdk",
)

BUNDLE_FILE_NAME: Final = "pyodide_dev.capnp.bin"
"""File name workerd looks for in ``--pyodide-bundle-disk-cache-dir`` for the ``dev`` bundle."""

# Bump when the bundle recipe below changes, so that cached bundles are rebuilt.
_BUNDLE_RECIPE_VERSION: Final = 1

_NPM_PACKAGES: Final[Mapping[str, str]] = {"workerd": WORKERD_VERSION, "pyodide": PYODIDE_VERSION}

_BUNDLE_MODULE_PREFIX: Final = "pyodideRuntime-internal:"

_STAMP_FILE_NAME: Final = "pyodide_dev.stamp"

# ---------------------------------------------------------------------------------------------
# Errors


class ToolchainError(RuntimeError):
    """The workerd toolchain could not be installed or the Pyodide bundle could not be built."""


class WorkerdStartupError(RuntimeError):
    """``workerd`` exited or did not answer HTTP in time. The message ends with the log's tail."""


# ---------------------------------------------------------------------------------------------
# Toolchain


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """Paths of an installed toolchain, as returned by :func:`ensure_toolchain`."""

    cache_dir: Path
    """Root of the cache (``node/`` and ``bundle/`` live below it)."""
    node_dir: Path
    """``npm install --prefix`` directory holding ``node_modules``."""
    workerd: Path
    """The native ``workerd`` executable."""
    capnp: Path
    """The ``capnp`` CLI (Debian package ``capnproto``)."""
    bundle_dir: Path
    """Directory passed as ``--pyodide-bundle-disk-cache-dir``; holds :data:`BUNDLE_FILE_NAME`."""

    @property
    def bundle_path(self) -> Path:
        """The built Pyodide bundle."""
        return self.bundle_dir / BUNDLE_FILE_NAME

    @property
    def pyodide_dir(self) -> Path:
        """The installed npm ``pyodide`` package."""
        return self.node_dir / "node_modules" / "pyodide"


def ensure_toolchain(cache_dir: Path, *, npm: str | None = None, capnp: str | None = None) -> Toolchain:
    """Install the pinned ``workerd``/``pyodide`` npm packages and build the Pyodide bundle.

    Idempotent and cached: packages that are present with the pinned versions are not reinstalled,
    and the bundle is rebuilt only when its inputs (Pyodide files, recipe version) changed. A file
    lock on ``cache_dir/.lock`` makes concurrent callers (e.g. parallel test processes) safe.

    Raises :class:`ToolchainError` when ``npm`` or ``capnp`` is missing or a step fails.
    """
    cache_dir = cache_dir.resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache_dir / ".lock"):
        capnp_bin = _find_executable(
            capnp or "capnp",
            "the `capnp` CLI was not found on PATH; install it with `apt-get install -y capnproto`",
        )
        node_dir = cache_dir / "node"
        _ensure_npm_packages(node_dir, npm)
        workerd_bin = _locate_workerd_binary(node_dir)
        bundle_dir = cache_dir / "bundle"
        toolchain = Toolchain(
            cache_dir=cache_dir,
            node_dir=node_dir,
            workerd=workerd_bin,
            capnp=capnp_bin,
            bundle_dir=bundle_dir,
        )
        _ensure_bundle(toolchain)
        return toolchain


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _find_executable(name: str, missing_message: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise ToolchainError(missing_message)
    return Path(found)


def _installed_npm_version(node_dir: Path, package: str) -> str | None:
    manifest = node_dir / "node_modules" / package / "package.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


def _ensure_npm_packages(node_dir: Path, npm: str | None) -> None:
    if all(_installed_npm_version(node_dir, p) == v for p, v in _NPM_PACKAGES.items()):
        return
    npm_bin = _find_executable(npm or "npm", "`npm` was not found on PATH; install Node.js (Debian package `npm`)")
    node_dir.mkdir(parents=True, exist_ok=True)
    # A private package.json with exact versions: `npm install` then installs exactly these.
    manifest = {
        "name": "durable-effect-workerd-toolchain",
        "private": True,
        "description": "Generated by tests/workerd/runtime.py; safe to delete.",
        "dependencies": dict(_NPM_PACKAGES),
    }
    (node_dir / "package.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    command = [
        str(npm_bin),
        "install",
        "--prefix",
        str(node_dir),
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        "--save-exact",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        raise ToolchainError(
            f"`{' '.join(command)}` failed with exit code {result.returncode}:\n"
            f"{_tail(result.stdout + result.stderr, 40)}"
        )
    for package, version in _NPM_PACKAGES.items():
        found = _installed_npm_version(node_dir, package)
        if found != version:
            raise ToolchainError(f"npm installed {package}@{found}, expected {version}")


def _workerd_platform_package() -> str:
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system not in ("linux", "darwin") or arch is None:
        raise ToolchainError(f"workerd has no npm binary for {system}/{machine}")
    return f"@cloudflare/workerd-{system}-{arch}"


def _locate_workerd_binary(node_dir: Path) -> Path:
    # The platform package ships the native binary. (npm >= 11 does not run `workerd`'s
    # postinstall script by default, so do not depend on it.)
    modules = node_dir / "node_modules"
    candidates = [
        modules / _workerd_platform_package() / "bin" / "workerd",
        modules / "workerd" / "bin" / "workerd",
    ]
    for candidate in candidates:
        if candidate.is_file() and candidate.stat().st_size > 1_000_000:
            if not os.access(candidate, os.X_OK):
                candidate.chmod(candidate.stat().st_mode | 0o111)
            return candidate
    raise ToolchainError("the native workerd binary was not found in any of: " + ", ".join(str(c) for c in candidates))


# ---------------------------------------------------------------------------------------------
# The Pyodide bundle

# The names workerd's `pyodide-internal:builtin_wrappers` exports that the patched glue imports.
_PRELUDE: Final = (
    "import{addEventListener,getRandomValues,location,monotonicDateNow,newWasmModule,"
    'patchedLoadLibData,wasmInstantiate}from"pyodide-internal:builtin_wrappers";\n'
)

_EVAL_STUB: Final = "(()=>{throw new Error('Emscripten code tried to eval, which Python Workers do not allow')})()"


@dataclasses.dataclass(frozen=True)
class _Patch:
    """One textual rewrite of the Emscripten glue; ``count`` is how often ``pattern`` must match."""

    description: str
    pattern: str
    replacement: str
    count: int


# Each pattern is anchored so that it cannot match inside a longer identifier; the counts were
# checked against pyodide 314.0.6's `pyodide.asm.mjs` and make a Pyodide upgrade fail loudly.
_GLUE_PATCHES: Final[tuple[_Patch, ...]] = (
    _Patch(
        "compile wasm through workerd's checked wrapper",
        r"(?<![\w$.])new WebAssembly\.Module\(",
        "newWasmModule(",
        4,
    ),
    _Patch(
        "instantiate wasm through workerd's wrapper",
        r"(?<![\w$.])WebAssembly\.instantiate(?![\w$])",
        "wasmInstantiate",
        2,
    ),
    _Patch(
        "a Date.now that always advances (keeps import caches fresh)",
        r"(?<![\w$.])Date\.now(?![\w$])",
        "monotonicDateNow",
        22,
    ),
    _Patch(
        "entropy through workerd (no entropy at top level)",
        r"(?<![\w$.])crypto\.getRandomValues\(",
        "getRandomValues(Module,",
        1,
    ),
    _Patch("no direct eval (1/3)", r"(?<![\w$.])eval\(func\)", _EVAL_STUB, 2),
    _Patch("no direct eval (2/3)", r"(?<![\w$.])eval\(data\)", _EVAL_STUB, 1),
    _Patch("no direct eval (3/3)", r"(?<![\w$.])eval\(UTF8ToString\(ptr\)\)", _EVAL_STUB, 3),
    _Patch(
        "load shared libraries from workerd's read-only file systems",
        r"function loadLibData\(\)\{",
        "function loadLibData(){var __cfLibData=patchedLoadLibData(Module,libName,flags.rpath);"
        "return flags.loadAsync?Promise.resolve(__cfLibData):__cfLibData;",
        1,
    ),
    _Patch(
        "stable shared-library memory bases (snapshots)",
        r"(?<![\w$.])getMemory\(",
        "Module.getMemoryPatched(Module,libName,",
        1,
    ),
    _Patch(
        "also export _createPyodideModule by name",
        r"export default _createPyodideModule;",
        "export default _createPyodideModule;export{_createPyodideModule};",
        1,
    ),
)


def _literal(replacement: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that inserts ``replacement`` verbatim (no backslash processing)."""

    def replace(_match: re.Match[str]) -> str:
        return replacement

    return replace


def patch_pyodide_glue(source: str) -> str:
    """Rewrite Pyodide's Emscripten glue (``pyodide.asm.mjs``) so that it runs inside workerd.

    The glue must create wasm modules, read the clock and draw entropy through workerd's
    ``pyodide-internal:builtin_wrappers``, load shared libraries through workerd's loader, never
    call direct ``eval``, and export ``_createPyodideModule`` by name. Raises
    :class:`ToolchainError` if any rewrite does not match exactly as often as expected.
    """
    text = source
    for patch in _GLUE_PATCHES:
        text, n = re.subn(patch.pattern, _literal(patch.replacement), text)
        if n != patch.count:
            raise ToolchainError(
                f"patching pyodide.asm.mjs ({patch.description}): pattern {patch.pattern!r} matched "
                f"{n} times, expected {patch.count}; is pyodide@{PYODIDE_VERSION} installed?"
            )
    leftover = re.search(r"(?<![\w$.])eval\(", text)
    if leftover is not None:
        raise ToolchainError(f"pyodide.asm.mjs still calls eval at offset {leftover.start()}")
    return _PRELUDE + text


# Our own schema with the layout of workerd's `jsg::Bundle` (the ordinals are what matters).
_BUNDLE_SCHEMA: Final = """\
@0xd1f4e2a9c3b5a701;

struct Bundle {
  modules @0 :List(Module);
}

struct Module {
  name @0 :Text;
  union {
    src @1 :Data;
    wasm @4 :Data;
    data @5 :Data;
    json @6 :Text;
  }
  tsDeclaration @3 :Text;
  type @2 :ModuleType;
  compileCache @7 :Data;
}

enum ModuleType {
  bundle @0;
  builtin @1;
  internal @2;
}
"""

_BUNDLE_VALUE: Final = """\
@0xd1f4e2a9c3b5a702;

using B = import "bundle_schema.capnp";

const pyodideBundle :B.Bundle = (
  modules = [
    ( name = "{prefix}pyodide.asm", src = embed "pyodide.asm.mjs", type = internal ),
    ( name = "{prefix}pyodide.asm.wasm", wasm = embed "pyodide.asm.wasm", type = internal ),
    ( name = "{prefix}python_stdlib.zip", data = embed "python_stdlib.zip", type = internal ),
  ]
);
"""


def _bundle_inputs_digest(pyodide_dir: Path) -> str:
    digest = hashlib.sha256()
    digest.update(f"recipe={_BUNDLE_RECIPE_VERSION};pyodide={PYODIDE_VERSION}\n".encode())
    for name in ("pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip"):
        path = pyodide_dir / name
        stat = path.stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _ensure_bundle(toolchain: Toolchain) -> None:
    pyodide_dir = toolchain.pyodide_dir
    stamp_path = toolchain.bundle_dir / _STAMP_FILE_NAME
    try:
        digest = _bundle_inputs_digest(pyodide_dir)
    except OSError as exc:
        raise ToolchainError(f"the npm pyodide package is incomplete: {exc}") from exc
    if (
        toolchain.bundle_path.is_file()
        and stamp_path.is_file()
        and stamp_path.read_text(encoding="utf-8").strip() == digest
    ):
        return
    toolchain.bundle_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bundle-build-", dir=toolchain.cache_dir) as tmp:
        work = Path(tmp)
        glue = (pyodide_dir / "pyodide.asm.mjs").read_text(encoding="utf-8")
        (work / "pyodide.asm.mjs").write_text(patch_pyodide_glue(glue), encoding="utf-8")
        shutil.copyfile(pyodide_dir / "pyodide.asm.wasm", work / "pyodide.asm.wasm")
        shutil.copyfile(pyodide_dir / "python_stdlib.zip", work / "python_stdlib.zip")
        (work / "bundle_schema.capnp").write_text(_BUNDLE_SCHEMA, encoding="utf-8")
        (work / "bundle.capnp").write_text(_BUNDLE_VALUE.replace("{prefix}", _BUNDLE_MODULE_PREFIX), encoding="utf-8")
        output = work / BUNDLE_FILE_NAME
        command = [str(toolchain.capnp), "eval", "-o", "binary", "bundle.capnp", "pyodideBundle"]
        with output.open("wb") as out:
            result = subprocess.run(command, cwd=work, stdout=out, stderr=subprocess.PIPE, check=False, timeout=300)
        if result.returncode != 0 or output.stat().st_size == 0:
            raise ToolchainError(
                f"`{' '.join(command)}` failed with exit code {result.returncode}:\n"
                f"{result.stderr.decode(errors='replace')}"
            )
        os.replace(output, toolchain.bundle_path)
    stamp_path.write_text(digest + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Worker modules


@dataclasses.dataclass(frozen=True)
class PythonModule:
    """A Python source module of the worker: ``name`` is its import path, e.g. ``pkg/mod.py``."""

    name: str
    path: Path


@dataclasses.dataclass(frozen=True)
class DataModule:
    """A raw data file of the worker (e.g. a package's data file), mounted next to the modules."""

    name: str
    path: Path


Module = PythonModule | DataModule

_SKIPPED_DIRS: Final = frozenset({"__pycache__", "tests", "test"})


def collect_package(
    package_dir: Path,
    root: Path | None = None,
    *,
    data_suffixes: Iterable[str] = (),
    skip_dirs: Iterable[str] = _SKIPPED_DIRS,
) -> list[Module]:
    """Collect a pure-Python package directory as worker modules named relative to ``root``.

    ``root`` defaults to the package's parent, so ``site-packages/returns/result.py`` becomes the
    module ``returns/result.py``. Skipped: ``__pycache__`` and test directories (``skip_dirs``),
    stub files (``.pyi``) and every non-``.py`` file unless its suffix is in ``data_suffixes``
    (those become :class:`DataModule` entries). The result is sorted by name.
    """
    package_dir = package_dir.resolve()
    base = (root or package_dir.parent).resolve()
    data = {s if s.startswith(".") else f".{s}" for s in data_suffixes}
    skipped = frozenset(skip_dirs)
    modules: list[Module] = []
    for directory, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if d not in skipped and not d.startswith("."))
        for filename in sorted(filenames):
            path = Path(directory) / filename
            name = path.relative_to(base).as_posix()
            if path.suffix == ".py":
                modules.append(PythonModule(name, path))
            elif path.suffix in data:
                modules.append(DataModule(name, path))
    modules.sort(key=lambda m: m.name)
    return modules


def collect_installed(import_name: str, *, data_suffixes: Iterable[str] = ()) -> list[Module]:
    """Collect an importable pure-Python distribution (package or single module) by import name.

    Uses the current interpreter's import system to find it, e.g. ``collect_installed("returns")``
    or ``collect_installed("typing_extensions")`` (a single-file module).
    """
    spec = importlib.util.find_spec(import_name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"cannot find an importable module named {import_name!r}")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:
        return collect_package(origin.parent, data_suffixes=data_suffixes)
    if origin.suffix != ".py":
        raise ValueError(f"{import_name!r} is not pure Python: {origin}")
    return [PythonModule(origin.name, origin)]


# ---------------------------------------------------------------------------------------------
# Config


@dataclasses.dataclass(frozen=True)
class DurableObjectNamespace:
    """A Durable Object class of the worker and the ``env`` binding that reaches it."""

    class_name: str
    binding: str
    unique_key: str
    enable_sql: bool = True


@dataclasses.dataclass(frozen=True)
class TextBinding:
    """``env.<name>`` is the string ``value``."""

    name: str
    value: str


@dataclasses.dataclass(frozen=True)
class JsonBinding:
    """``env.<name>`` is ``value`` (any JSON-serialisable data) parsed from JSON."""

    name: str
    value: object


@dataclasses.dataclass(frozen=True)
class RawBinding:
    """A ``Workerd.Worker.Binding`` written in Cap'n Proto text, e.g. ``(name = "X", ...)``."""

    capnp_text: str


Binding = TextBinding | JsonBinding | RawBinding


@dataclasses.dataclass(frozen=True)
class ExternalService:
    """An HTTP server outside workerd (e.g. a test's collector) that workers can reach as a service,
    for instance as their ``global_outbound`` (every ``fetch`` goes there, whatever the URL's host)."""

    name: str
    address: str
    """``host:port``, e.g. ``127.0.0.1:8123``."""


@dataclasses.dataclass(frozen=True)
class JsModule:
    """An ES module of a JavaScript worker: ``name`` is its module name, e.g. ``bench.js``."""

    name: str
    path: Path


@dataclasses.dataclass(frozen=True)
class JsWorker:
    """A JavaScript module worker served next to the Python one (e.g. a baseline to compare with).

    Its Durable Object namespaces are stored under the same ``storage_dir``; to bind a class of another
    worker, use ``RawBinding('(name = "X", durableObjectNamespace = (className = "C", serviceName = "main"))')``.
    """

    name: str
    modules: Sequence[JsModule]
    """Main module first."""
    durable_objects: Sequence[DurableObjectNamespace] = ()
    bindings: Sequence[Binding] = ()
    compatibility_date: str = COMPATIBILITY_DATE
    compatibility_flags: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class Socket:
    """An extra HTTP socket on ``127.0.0.1:port`` serving ``service`` (the main socket is ``socket_name``)."""

    name: str
    service: str
    port: int


Service = ExternalService | JsWorker


def _capnp_string(value: str) -> str:
    """Quote ``value`` as a Cap'n Proto text literal (JSON escapes are valid capnp escapes)."""
    return json.dumps(value, ensure_ascii=True)


def _embed_path(path: Path, config_dir: Path) -> str:
    # `embed` resolves relative paths against the config file's directory (absolute ones against
    # import paths), so always write a relative path.
    return os.path.relpath(path.resolve(), config_dir)


def _binding_text(binding: Binding) -> str:
    if isinstance(binding, TextBinding):
        return f"(name = {_capnp_string(binding.name)}, text = {_capnp_string(binding.value)})"
    if isinstance(binding, JsonBinding):
        encoded = json.dumps(binding.value)
        return f"(name = {_capnp_string(binding.name)}, json = {_capnp_string(encoded)})"
    return binding.capnp_text


def _namespace_binding_line(ns: DurableObjectNamespace) -> str:
    return (
        f"      (name = {_capnp_string(ns.binding)}, "
        f"durableObjectNamespace = (className = {_capnp_string(ns.class_name)})),"
    )


def _namespace_line(ns: DurableObjectNamespace) -> str:
    return (
        f"      (className = {_capnp_string(ns.class_name)}, uniqueKey = {_capnp_string(ns.unique_key)}, "
        f"enableSql = {'true' if ns.enable_sql else 'false'}),"
    )


def _service_text(service: Service, config_dir: Path, storage_service: str) -> tuple[str, str]:
    """``(entry in services = [...], extra top-level const)`` for an extra service."""
    if isinstance(service, ExternalService):
        entry = (
            f"    (name = {_capnp_string(service.name)}, "
            f"external = (address = {_capnp_string(service.address)}, http = ())),"
        )
        return entry, ""
    const = "jsWorker" + re.sub(r"[^A-Za-z0-9]", "", service.name.title())
    modules = "\n".join(
        f"    (name = {_capnp_string(m.name)}, esModule = embed {_capnp_string(_embed_path(m.path, config_dir))}),"
        for m in service.modules
    )
    bindings = [_namespace_binding_line(ns) for ns in service.durable_objects]
    bindings += [f"      {_binding_text(b)}," for b in service.bindings]
    namespaces = "\n".join(_namespace_line(ns) for ns in service.durable_objects)
    flags = ", ".join(_capnp_string(f) for f in service.compatibility_flags)
    storage = ""
    if service.durable_objects:
        storage = f"  durableObjectStorage = (localDisk = {_capnp_string(storage_service)}),\n"
    newline = "\n"
    text = f"""
const {const} :Workerd.Worker = (
  modules = [
{modules}
  ],
  compatibilityDate = {_capnp_string(service.compatibility_date)},
  compatibilityFlags = [{flags}],
  bindings = [
{newline.join(bindings)}
  ],
  durableObjectNamespaces = [
{namespaces}
  ],
{storage});
"""
    return f"    (name = {_capnp_string(service.name)}, worker = .{const}),", text


def write_config(
    config_path: Path,
    *,
    modules: Sequence[Module],
    durable_objects: Sequence[DurableObjectNamespace],
    storage_dir: Path,
    port: int,
    bindings: Sequence[Binding] = (),
    compatibility_date: str = COMPATIBILITY_DATE,
    compatibility_flags: Sequence[str] = COMPATIBILITY_FLAGS,
    service_name: str = "main",
    socket_name: str = "http",
    services: Sequence[Service] = (),
    global_outbound: str | None = None,
    sockets: Sequence[Socket] = (),
) -> Path:
    """Write a ``Workerd.Config`` for one Python Worker and return ``config_path``.

    ``modules`` are the worker's modules, main module first (e.g. ``PythonModule("worker.py", p)``
    followed by dependencies from :func:`collect_package`); files are embedded by relative path, so
    they are read when workerd starts. Each Durable Object namespace gets a binding and is stored
    (SQLite-backed when ``enable_sql``) under ``storage_dir`` via a writable disk service. The
    worker listens for HTTP on ``127.0.0.1:<port>`` through the socket ``socket_name`` (which
    :class:`WorkerdProcess` can re-bind to another port).

    ``services`` adds services next to the Python worker: :class:`ExternalService` (an HTTP server outside
    workerd) and :class:`JsWorker` (a JavaScript module worker). ``global_outbound`` names the service the
    Python worker's ``fetch`` goes to (default: workerd's ``internet``, which refuses private addresses).
    ``sockets`` adds HTTP sockets on fixed ports (e.g. one for a JavaScript worker).
    """
    if not modules or not isinstance(modules[0], PythonModule):
        raise ValueError("the first module must be the worker's main Python module")
    names = [m.name for m in modules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate module names: {duplicates}")
    config_path = config_path.resolve()
    config_dir = config_path.parent
    config_dir.mkdir(parents=True, exist_ok=True)
    storage_dir = storage_dir.resolve()
    storage_dir.mkdir(parents=True, exist_ok=True)

    module_lines = []
    for module in modules:
        kind = "pythonModule" if isinstance(module, PythonModule) else "data"
        embedded = _capnp_string(_embed_path(module.path, config_dir))
        module_lines.append(f"      (name = {_capnp_string(module.name)}, {kind} = embed {embedded}),")
    binding_lines = [_namespace_binding_line(ns) for ns in durable_objects]
    binding_lines += [f"      {_binding_text(b)}," for b in bindings]
    namespace_lines = [_namespace_line(ns) for ns in durable_objects]
    flags = ", ".join(_capnp_string(f) for f in compatibility_flags)
    storage_service = f"{service_name}-do-storage"
    storage = f"  durableObjectStorage = (localDisk = {_capnp_string(storage_service)}),\n" if durable_objects else ""
    if global_outbound is not None:
        storage += f"  globalOutbound = {_capnp_string(global_outbound)},\n"
    extra_entries: list[str] = []
    extra_consts: list[str] = []
    for service in services:
        entry, const = _service_text(service, config_dir, storage_service)
        extra_entries.append(entry)
        extra_consts.append(const)
    socket_lines = [
        f"    (name = {_capnp_string(sock.name)}, address = {_capnp_string(f'127.0.0.1:{sock.port}')}, http = (),"
        f" service = {_capnp_string(sock.service)}),"
        for sock in sockets
    ]
    newline = "\n"
    text = f"""\
# Generated by tests/workerd/runtime.py. Do not edit.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = {_capnp_string(service_name)}, worker = .worker),
    (name = {_capnp_string(storage_service)},
     disk = (path = {_capnp_string(str(storage_dir))}, writable = true)),
{newline.join(extra_entries)}
  ],
  sockets = [
    (name = {_capnp_string(socket_name)}, address = {_capnp_string(f"127.0.0.1:{port}")}, http = (),
     service = {_capnp_string(service_name)}),
{newline.join(socket_lines)}
  ],
);

const worker :Workerd.Worker = (
  modules = [
{newline.join(module_lines)}
  ],
  compatibilityDate = {_capnp_string(compatibility_date)},
  compatibilityFlags = [{flags}],
  bindings = [
{newline.join(binding_lines)}
  ],
  durableObjectNamespaces = [
{newline.join(namespace_lines)}
  ],
{storage});
{"".join(extra_consts)}"""
    config_path.write_text(text, encoding="utf-8")
    return config_path


# ---------------------------------------------------------------------------------------------
# Process


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_SNAPSHOT_FILE_NAME: Final = "snapshot.bin"


def _snapshot_key(config_path: Path, toolchain: Toolchain) -> str:
    """A digest of everything a dedicated Python snapshot depends on."""
    digest = hashlib.sha256()
    digest.update(f"{WORKERD_VERSION}\n{PYODIDE_VERSION}\n".encode())
    digest.update((toolchain.bundle_dir / _STAMP_FILE_NAME).read_bytes())
    config_text = config_path.read_text(encoding="utf-8")
    digest.update(config_text.encode())
    for match in re.finditer(r'embed ("(?:[^"\\]|\\.)*")', config_text):
        embedded = config_path.parent / json.loads(match.group(1))
        digest.update(embedded.read_bytes())
    return digest.hexdigest()[:24]


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


class WorkerdProcess:
    """One ``workerd serve`` process for a config, restartable on the same storage.

    ``start()`` launches ``workerd serve CONFIG --experimental --pyodide-bundle-disk-cache-dir DIR``
    with the config's socket bound to ``127.0.0.1:<port>`` and blocks until an HTTP ``GET`` of
    ``ready_path`` answers with a status below 500 (Pyodide's cold start takes seconds). Output goes
    to ``log_path`` (appended across restarts); startup errors include the log's tail. ``stop()``
    sends SIGTERM, then SIGKILL after ``stop_timeout``. Use as a context manager to stop on exit.

    With ``snapshot_dir``, Python memory snapshots cut the cold start from about 4 s to under 1 s:
    the first start for a given config, module contents and toolchain saves a snapshot
    (``--python-save-snapshot``) under ``snapshot_dir/<key>/``, later starts load it
    (``--python-load-snapshot``). ``snapshot_action`` tells which happened on the last start.
    """

    def __init__(
        self,
        toolchain: Toolchain,
        config_path: Path,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        socket_name: str = "http",
        ready_path: str = "/",
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        snapshot_dir: Path | None = None,
    ) -> None:
        self.toolchain = toolchain
        self.config_path = config_path.resolve()
        self.port = port if port is not None else free_port()
        self.log_path = (log_path or self.config_path.with_suffix(".log")).resolve()
        self.socket_name = socket_name
        self.ready_path = ready_path
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.extra_args = tuple(extra_args)
        self.env = dict(env) if env is not None else None
        self.snapshot_dir = snapshot_dir.resolve() if snapshot_dir is not None else None
        self.snapshot_action: Literal["saved", "loaded"] | None = None
        """Whether the last ``start()`` saved or loaded a Python snapshot (None: snapshots off)."""
        self._snapshot_args: list[str] = []
        self.startup_seconds: float | None = None
        """Seconds the last ``start()`` took until workerd answered HTTP."""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        """The command line ``start()`` runs."""
        return [
            str(self.toolchain.workerd),
            "serve",
            str(self.config_path),
            "--experimental",
            "--pyodide-bundle-disk-cache-dir",
            str(self.toolchain.bundle_dir),
            "--socket-addr",
            f"{self.socket_name}=127.0.0.1:{self.port}",
            *self._snapshot_args,
            *self.extra_args,
        ]

    def _prepare_snapshot(self) -> None:
        if self.snapshot_dir is None:
            self._snapshot_args = []
            self.snapshot_action = None
            return
        directory = self.snapshot_dir / _snapshot_key(self.config_path, self.toolchain)
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / _SNAPSHOT_FILE_NAME).is_file():
            self.snapshot_action = "loaded"
            load = ["--python-load-snapshot", _SNAPSHOT_FILE_NAME]
            self._snapshot_args = ["--python-snapshot-dir", str(directory), *load]
        else:
            self.snapshot_action = "saved"
            self._snapshot_args = ["--python-snapshot-dir", str(directory), "--python-save-snapshot"]

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines logged since the latest ``start()``."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                text = handle.read().decode(errors="replace")
        except OSError:
            return ""
        return _tail(text, lines)

    def start(self) -> None:
        """Start workerd and wait until it answers HTTP. Raises :class:`WorkerdStartupError`."""
        if self.running:
            raise RuntimeError("workerd is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._prepare_snapshot()
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            header = f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.command())}\n"
            log.write(header.encode())
            log.flush()
            started = time.monotonic()
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.config_path.parent,
                env=self.env,
                start_new_session=True,
            )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def _wait_ready(self, started: float) -> None:
        deadline = started + self.startup_timeout
        last_problem = "no answer yet"
        process = self._process
        assert process is not None
        while True:
            code = process.poll()
            if code is not None:
                raise WorkerdStartupError(
                    f"workerd exited with code {code} during startup; log {self.log_path}:\n{self.log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerdStartupError(
                    f"workerd did not answer GET {self.base_url}{self.ready_path} within "
                    f"{self.startup_timeout:.0f} s ({last_problem}); log {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            status = self._probe(timeout=max(0.5, min(remaining, 30.0)))
            if isinstance(status, int):
                if status < 500:
                    return
                last_problem = f"last status {status}"
            else:
                last_problem = status
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _probe(self, timeout: float) -> int | str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", self.ready_path)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    def stop(self) -> int | None:
        """Stop workerd (SIGTERM, then SIGKILL) and return its exit code; no-op if not running."""
        process = self._process
        if process is None:
            return None
        self._process = None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(timeout=self.stop_timeout)
        return process.returncode

    def restart(self) -> None:
        """Stop and start again (same config, storage and port)."""
        self.stop()
        self.start()

    def __enter__(self) -> WorkerdProcess:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def start_workerd(
    config_path: Path,
    port: int | None,
    cache_dir: Path,
    *,
    log_path: Path | None = None,
    ready_path: str = "/",
    startup_timeout: float = 60.0,
    extra_args: Sequence[str] = (),
    snapshot_dir: Path | None = None,
) -> Iterator[WorkerdProcess]:
    """Run workerd for ``config_path`` until the block exits (see :class:`WorkerdProcess`).

    ``cache_dir`` is the toolchain cache of :func:`ensure_toolchain` (installed or reused here);
    ``port=None`` picks a free port. Call ``stop()``/``start()`` on the yielded process to restart
    it against the same storage.
    """
    toolchain = ensure_toolchain(cache_dir)
    process = WorkerdProcess(
        toolchain,
        config_path,
        port=port,
        log_path=log_path,
        ready_path=ready_path,
        startup_timeout=startup_timeout,
        extra_args=extra_args,
        snapshot_dir=snapshot_dir,
    )
    with process:
        yield process
