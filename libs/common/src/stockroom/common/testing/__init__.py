"""Helpers for testing Stockroom services: throwaway databases, loopback servers.

``stockroom.common.testing.fixtures`` is a pytest plugin with the shared
fixtures; load it with ``pytest_plugins = ["stockroom.common.testing.fixtures"]``.
"""
