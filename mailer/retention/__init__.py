"""Retention (API.md §11): finished messages past their tenant's retention are deleted, their counts kept.

``policy`` says how long a tenant keeps mail, ``purge`` deletes in bounded transactions,
``archive`` keeps the hourly counts /v1/stats reads, ``schedule`` runs it daily from the sweep,
``cli`` is ``flask --app wsgi purge``.
"""
