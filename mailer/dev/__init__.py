"""Development-only tools: the SMTP sink (`flask dev-smtp`) and the inbox that shows what it caught.

The inbox blueprint is registered only in DEBUG.
"""
