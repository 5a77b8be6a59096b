"""Retention: age and byte-budget eviction of stored events, expiry of unused symbol sets, and storage usage."""
