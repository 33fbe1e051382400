"""Helpers that test files share (imported as tests.support.NAME, never from another test module)."""
