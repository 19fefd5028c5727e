"""Adapter tests: the shared contract suite (``contract.py``) and one module per adapter."""
