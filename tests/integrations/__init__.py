"""Tests of the optional integrations (integrations/)."""
