"""Veneer: serve legacy ML models behind standard APIs, unchanged.

The public face is small: ``veneer.model`` (the decorator), ``veneer.serve``
(run a server from Python), ``veneer.Client`` (call one) and ``__version__``.
Everything else lives in ``veneer.wrapper``, ``veneer.adapters`` and
``veneer.sidecar``.
"""

from veneer._version import __version__ as __version__
from veneer.wrapper.decorator import model as model

__all__ = ["Client", "__version__", "model", "serve"]


def serve(target: str, **options):
    """Serve a config file or a module of decorated functions (blocks until shutdown).

    ``options`` are server settings (``host``, ``port``, ``workers``, ``threads``...).
    """
    from veneer.sidecar.server import serve as _serve

    return _serve(target, **options)


def __getattr__(name: str):
    # Client pulls in requests; load it only when asked for.
    if name == "Client":
        from veneer.sidecar.client import Client

        return Client
    raise AttributeError(f"module 'veneer' has no attribute {name!r}")
