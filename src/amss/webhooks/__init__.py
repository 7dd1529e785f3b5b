"""Webhook subscriptions, signed deliveries, retries."""
