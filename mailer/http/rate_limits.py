"""Rate limits (flask-limiter on Redis), keyed by verified identity and tenant.

Limits are attached to endpoints by name when the app is built, so the blueprints need
no decorators. Keys never come from client-supplied headers: the client address is the
socket peer (or what ProxyFix trusted, PROXY_FIX_X_FOR hops), identities come from the
verified bearer token, and per-address auth limits from the request body's address.
If the limiter's Redis is down, the same limits are kept in this process's memory
(flask-limiter's in-memory fallback), never dropped; /readyz shows it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Callable

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from limits.storage import RedisStorage

from mailer.config import Config
from mailer.errors import MailerError
from mailer.extensions import current_limiter, init_limiter
from mailer.http.window_hits import HitWindowRateLimiter
from mailer.security.principal import current_principal
from mailer.security.types import Principal
from mailer.smtp.validation import MessageValidationError, normalize_address

log = logging.getLogger(__name__)
MESSAGES_ENDPOINT = "notifications.create_message"  # also the scope of RATELIMIT_MESSAGES' buckets
LIMIT_HEADERS = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def ip_bucket(address: str | None) -> str:
    """The unit one client controls: an IPv4 address, or the /64 of an IPv6 one (one host gets a whole /64)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_ip() -> str:
    return f"ip:{ip_bucket(request.remote_addr)}"


def sender_key() -> str:
    """The verified user or API key (per tenant); unauthenticated callers share their address's bucket."""
    try:
        principal = current_principal()
    except MailerError:
        return f"anonymous:{client_ip()}"
    return principal_key(principal)


def principal_key(principal: Principal) -> str:
    """A verified caller's bucket, the same for every door (SMTP submission spends the API's)."""
    return f"tenant:{principal.tenant_id}:{principal.kind}:{principal.id}"


def tenant_key() -> str:
    try:
        return f"tenant:{current_principal().tenant_id}"
    except MailerError:
        return f"anonymous:{client_ip()}"


def _mailbox(email: str) -> str:
    """The address as the service stores it (IDNA, width and case folded), so each variant of one
    mailbox (a full-width `e`, `EXAMPLE.com`) shares its bucket; the raw text if it is not an address."""
    try:
        return normalize_address(email, field="email").lower()
    except MessageValidationError:
        return email.strip().lower()


def account_key() -> str:
    """The account a login or account-mail request is about: tenant slug + address, from the body."""
    # At most 64 KiB here: auth bodies are bounded before any hook reads them. The console posts forms.
    body = request.get_json(silent=True) if request.is_json else request.form
    if isinstance(body, dict) and isinstance(body.get("email"), str) and isinstance(body.get("tenant"), str):
        # Hashed: a rate-limit key in Redis must not hold an address.
        account = f"{body['tenant'].strip().lower()}:{_mailbox(body['email'])}"
        return "account:" + hashlib.sha256(account.encode()).hexdigest()[:32]
    return f"account:?:{client_ip()}"


def _accepted(response: Response) -> bool:
    return 200 <= response.status_code < 300


def _not_refused(response: Response) -> bool:
    return response.status_code < 400


class UnknownEndpointError(RuntimeError):
    """A rate limit names an endpoint no blueprint registered (renamed or removed): it would silently vanish."""


def _limit(
    app: Flask, limiter: Limiter, endpoint: str, value: str, key: Callable[[], str],
    deduct_when: Callable[[Response], bool] | None = None, methods: list[str] | None = None,
    shared: str | None = None,
) -> None:
    """``shared``: a budget several endpoints spend together (the API's and the console's door to one action)."""
    view = app.view_functions.get(endpoint)
    if view is None:
        raise UnknownEndpointError(f"a rate limit is attached to {endpoint!r}, which no blueprint registers")
    if shared:
        decorator = limiter.shared_limit(value, shared, key_func=key, deduct_when=deduct_when, methods=methods)
    else:
        decorator = limiter.limit(value, key_func=key, deduct_when=deduct_when, methods=methods)
    app.view_functions[endpoint] = decorator(view)


def init_rate_limits(app: Flask) -> Limiter:
    """Create this app's limiter and attach the limits of API.md §5. Call after the blueprints.

    The limits replace view functions by endpoint name, so the endpoints must exist; and the
    limiter's checks run after the request id and JSON checks, which are registered before it.
    """
    config: Config = app.config["MAILER"]
    app.after_request(_restore_answer_headers)  # registered first, so it runs after the limiter's own
    limiter = init_limiter(app, client_ip)
    _headers_from_hits(limiter)
    app.after_request(_remember_answer_headers)  # registered last, so it runs before the limiter's own
    _limit(app, limiter, "auth.login", config.RATELIMIT_LOGIN_IP, client_ip)
    _limit(app, limiter, "auth.login", config.RATELIMIT_LOGIN_ACCOUNT, account_key)
    for endpoint in ("auth.register", "auth.resend_verification", "auth.forgot_password"):
        _limit(app, limiter, endpoint, config.RATELIMIT_ACCOUNT_MAIL_IP, client_ip)
        _limit(app, limiter, endpoint, config.RATELIMIT_ACCOUNT_MAIL_ADDRESS, account_key)
    # The console's forms for the same actions (API.md §12: every limit of §5 applies); only their POSTs count.
    _limit(app, limiter, "console.login_submit", config.RATELIMIT_LOGIN_IP, client_ip)
    _limit(app, limiter, "console.login_submit", config.RATELIMIT_LOGIN_ACCOUNT, account_key)
    for endpoint in ("console.sign_up", "console.resend_verification", "console.forgot_password"):
        _limit(app, limiter, endpoint, config.RATELIMIT_ACCOUNT_MAIL_IP, client_ip, methods=["POST"])
        _limit(app, limiter, endpoint, config.RATELIMIT_ACCOUNT_MAIL_ADDRESS, account_key, methods=["POST"])
    _limit(app, limiter, MESSAGES_ENDPOINT, config.RATELIMIT_MESSAGES, sender_key)
    # A broadcast refused for a typo in its template does not spend the tenant's hourly budget.
    _limit(app, limiter, "notifications.create_broadcast", config.RATELIMIT_BROADCASTS, tenant_key, _accepted,
           shared="broadcasts")
    # The console's "Send the broadcast" spends the same tenant budget (its success is a redirect).
    _limit(app, limiter, "console.broadcasts_send", config.RATELIMIT_BROADCASTS, tenant_key, _not_refused,
           shared="broadcasts")
    # Each holds a web worker on the network (relay, DNS): bounded in time, and in number per tenant (N8).
    # The console's doors to the same two actions spend the same budgets.
    for endpoint in ("relays.test_relay", "console.settings_relay_test"):
        _limit(app, limiter, endpoint, config.RATELIMIT_RELAY_TEST, tenant_key, shared="relay-test")
    for endpoint in ("domains.verify_domain", "console.domains_check"):
        _limit(app, limiter, endpoint, config.RATELIMIT_DOMAIN_VERIFY, tenant_key, shared="domain-verify")
    _limit(app, limiter, "batch.send_batch", config.RATELIMIT_BATCHES, sender_key)
    return limiter


def _headers_from_hits(limiter: Limiter) -> None:
    """On Redis, the fixed-window strategy whose hit also gives the headers' figures (http/window_hits.py)."""
    if isinstance(limiter._storage, RedisStorage):  # flask-limiter builds its strategy in init_app, with no hook
        limiter._limiter = HitWindowRateLimiter(limiter._storage)


def limiter_health() -> str:
    """"ok", "memory_fallback" (storage unreachable, limits kept per process) or "disabled"."""
    limiter = current_limiter()
    if limiter is None or not limiter.enabled or not limiter.initialized:
        return "disabled"
    try:
        healthy = bool(limiter.storage.check())
    except Exception:  # any storage failure means the same thing here
        healthy = False
    if healthy:
        return "ok"
    log.warning("rate limit storage unreachable; limits are enforced per process in memory")
    return "memory_fallback"


def _remember_answer_headers(response: Response) -> Response:
    # An answer that states its own limits (the daily quota's 429) keeps them over the limiter's.
    g.answer_limit_headers = {name: response.headers[name] for name in LIMIT_HEADERS if name in response.headers}
    return response


def _restore_answer_headers(response: Response) -> Response:
    for name, value in (g.get("answer_limit_headers") or {}).items():
        response.headers[name] = value
    # flask-limiter puts Retry-After on every answer of a limited route; it means "wait" only on a 429
    # (or 503). On a success it would also tell, to the second, when another caller's window began.
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response
