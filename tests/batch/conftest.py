"""Batch tests deliver through the same scriptable sink and fast app as the delivery tests."""

