"""The seed document\x27s four handoff patterns as runnable pipelines."""

__all__: list[str] = []
