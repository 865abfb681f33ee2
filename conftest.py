"""Root conftest: every test in the workspace gets the shared fixtures."""

pytest_plugins = ["stockroom.common.testing.pytest_plugin"]
