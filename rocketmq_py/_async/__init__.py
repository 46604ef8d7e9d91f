"""The one real client implementation (anyio, structured concurrency)."""
