"""Test helpers shared by every domain's tests (databases, live servers)."""
