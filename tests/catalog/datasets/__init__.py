"""Tests of dataset record formats and validation."""
