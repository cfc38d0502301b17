from tests.requests_plugin.conftest import unused_port  # noqa: F401 - a fixture
