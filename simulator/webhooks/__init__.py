"""Webhook delivery: the outbox relay and dispatcher, Standard Webhooks signatures."""
