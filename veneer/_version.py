"""The single source of veneer's version number."""

__version__ = "0.1.0"
