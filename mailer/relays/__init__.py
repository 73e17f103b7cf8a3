"""A tenant's own SMTP relay (API.md §10): settings, test connection, and the server delivery uses.

The blueprint lives in `routes.py`: the pipeline and workers import the rest without any HTTP layer.
"""
