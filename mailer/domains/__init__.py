"""Sending domains (API.md §10): DNS records, verification, DKIM keys and signing.

The blueprint lives in `routes.py`: the pipeline and workers import the rest without any HTTP layer.
"""
