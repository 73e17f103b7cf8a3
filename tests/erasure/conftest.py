from tests.delivery.conftest import sink  # noqa: F401
