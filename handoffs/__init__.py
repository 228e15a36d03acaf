"""handoffs: AI agents hand work to each other through structured, validated, durable handoffs."""
