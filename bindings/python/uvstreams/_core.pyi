# Type stubs of uvstreams._core: only what the public modules re-export.
import asyncio

IncompleteReadError = asyncio.IncompleteReadError
LimitOverrunError = asyncio.LimitOverrunError
DEFAULT_LIMIT: int

class UvstreamsError(RuntimeError):
    code: int
    name: str
    def __init__(self, code: int, message: str) -> None: ...
