"""The deployment tests share the webhook tests' real receiver and in-loop worker."""

from tests.webhooks.conftest import receiver, worker

__all__ = ["receiver", "worker"]
