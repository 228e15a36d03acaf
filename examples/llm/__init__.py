"""The seed's four handoff patterns with model roles (TOML configs; see content.toml)."""
