"""Business notifications after they are stored: their published form, listing, and the outbox
that publishes them to a NATS JetStream stream (see docs/notifications.md)."""
