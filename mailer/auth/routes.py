"""The auth endpoints (API.md §2): parse → service → serialise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from mailer.accounts import profile, sessions, signup
from mailer.auth.responses import (
    MeOut,
    PasswordResetOut,
    ResetRequestedOut,
    TokenPairOut,
    VerificationSentOut,
    VerifiedOut,
)
from mailer.auth.schemas import (
    AddressRequest,
    LoginRequest,
    LogoutRequest,
    MePatch,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    TokenRequest,
)
from mailer.http.json import parse_body
from mailer.i18n import negotiate_header
from mailer.models import Role, Tenant, User
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role

bp = Blueprint("auth", __name__, url_prefix="/v1/auth")


@bp.post("/register")
@documented("Sign up: a verification mail (or an \"account exists\" notice) is sent", body=RegisterRequest,
            response=VerificationSentOut, status=202, auth=False, errors=(403,),
            description="403 `signup_disabled` when the tenant's admin has closed sign-up.")
def register() -> Any:
    body = parse_body(RegisterRequest)
    locale = body.locale or negotiate_header(request.accept_languages)
    signup.register(body.tenant, body.email, body.password, body.name, locale)
    return {"status": "verification_sent"}, 202


@bp.post("/verify-email")
@documented("Verify an address with the token from its mail", body=TokenRequest, response=VerifiedOut,
            auth=False, description="400 `invalid_token` (unknown or used) or `token_expired`.")
def verify_email() -> Any:
    body = parse_body(TokenRequest)
    signup.verify_email(body.token)
    return {"status": "verified"}


@bp.post("/resend-verification")
@documented("Send the verification mail again (uniform answer)", body=AddressRequest,
            response=VerificationSentOut, status=202, auth=False)
def resend_verification() -> Any:
    body = parse_body(AddressRequest)
    signup.resend_verification(body.tenant, body.email)
    return {"status": "verification_sent"}, 202


@bp.post("/forgot-password")
@documented("Request a password reset mail (uniform answer)", body=AddressRequest, response=ResetRequestedOut,
            status=202, auth=False)
def forgot_password() -> Any:
    body = parse_body(AddressRequest)
    signup.forgot_password(body.tenant, body.email)
    return {"status": "reset_requested"}, 202


@bp.post("/reset-password")
@documented("Set a new password with the token from the reset mail; ends every session",
            body=ResetPasswordRequest, response=PasswordResetOut, auth=False,
            description="400 `invalid_token` (unknown or used) or `token_expired`.")
def reset_password() -> Any:
    body = parse_body(ResetPasswordRequest)
    signup.reset_password(body.token, body.password)
    return {"status": "password_reset"}


@bp.post("/login")
@documented("Log in: an access and a refresh token", body=LoginRequest, response=TokenPairOut, auth=False,
           errors=(401, 403))
def login() -> Any:
    body = parse_body(LoginRequest)
    return sessions.login(body.tenant, body.email, body.password).as_json()


@bp.post("/refresh")
@documented("Rotate a refresh token: a new pair of the same session", body=RefreshRequest, response=TokenPairOut,
            auth=False, errors=(401, 403))
def refresh() -> Any:
    body = parse_body(RefreshRequest)
    return sessions.refresh(body.refresh_token).as_json()


@bp.post("/logout")
@documented("End the session: revoke the access token and, if given, the refresh token's family",
            body=LogoutRequest, body_required=False, status=204, errors=(503,))
@require_role(Role.USER, Role.ADMIN)
def logout() -> Any:
    refresh_token = parse_body(LogoutRequest).refresh_token if request.get_data() else None
    sessions.logout(current_principal(), refresh_token)
    return "", 204


def me_json(user: User, tenant: Tenant) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "email_verified": user.email_verified,
        "locale": profile.user_locale(user, tenant),
        "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name},
    }


@bp.get("/me")
@documented("The caller's account and tenant", response=MeOut)
@require_role(Role.USER, Role.ADMIN)
def me() -> Any:
    return me_json(*profile.profile(current_principal()))


@bp.patch("/me")
@documented("Change the caller's name or language", body=MePatch, response=MeOut,
            description="`locale` is `en` or `zh-CN` (API.md §14), anything else 422.")
@require_role(Role.USER, Role.ADMIN)
def patch_me() -> Any:
    body = parse_body(MePatch)
    return me_json(*profile.update_profile(current_principal(), body.model_dump(exclude_unset=True)))
