from tests.delivery.conftest import fast_app, sink  # noqa: F401
