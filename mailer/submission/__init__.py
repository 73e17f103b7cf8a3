"""SMTP submission (API.md §13): a door for applications that only speak SMTP; it calls the sending service."""
