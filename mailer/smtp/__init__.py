"""The SMTP protocol handler: builds, validates and delivers mail, returning a result
per recipient. It knows nothing of Flask or the database, so it is tested and
benchmarked on its own."""
