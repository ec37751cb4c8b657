# Stubs for the parts of Pyodide's ``pyodide`` package the Cloudflare adapter uses (Python Workers).
from . import ffi as ffi

__version__: str
