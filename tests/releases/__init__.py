"""Release API tests."""
