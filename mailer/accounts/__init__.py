"""Account rules used by both HTTP and the worker: sign-up, verification, resets, sessions, and the account mail.

No blueprint here: `auth/` and `pages/` call these from requests, and the worker's jobs call
`notices.process_auth_request` for the work parked by `pending`.
"""
