"""Pydantic models that cross Temporal boundaries, a module per boundary: API → workflow (`requests`),
workflow ↔ activity by concern (`prompt`, `render`, `images`, `jobs`, `webhooks`), the `progress` query, and GPU
readiness (`health`); `domain` holds the words they share.

They carry object keys, never image bytes, so workflow history stays small (claim check).
"""
