"""One module per legacy format behind one small interface; see ``registry.py``."""

from veneer.adapters.registry import get_adapter_class as get_adapter_class
from veneer.adapters.registry import register_adapter as register_adapter

__all__ = ["get_adapter_class", "register_adapter"]
