"""Reference application of the hermetic stack (see :mod:`.app`); only starlette and uvicorn needed."""

from .app import create_app
from .server import serve_in_thread

__all__ = ["create_app", "serve_in_thread"]
