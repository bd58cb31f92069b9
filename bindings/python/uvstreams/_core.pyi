# Type stubs of uvstreams._core: only what the public modules re-export.
import asyncio
from typing import Any

IncompleteReadError = asyncio.IncompleteReadError
LimitOverrunError = asyncio.LimitOverrunError
DEFAULT_LIMIT: int
_c: Any  # the SWIG extension (uvstreams._uvstreams_c), untyped

class UvstreamsError(RuntimeError):
    code: int
    name: str
    def __init__(self, code: int, message: str) -> None: ...
