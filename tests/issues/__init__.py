"""Issues workflow, fingerprints and stack-frame API tests."""
