"""Who is calling: passwords, tokens, and the principal behind a request."""
