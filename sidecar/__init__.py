"""The HTTP layer: app and wire protocols, auth, routing, metrics, registration, server, CLI.

Importing this package imports nothing heavy (no Flask app is built, no model is loaded).
"""
