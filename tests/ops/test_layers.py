"""The layout's rules: the import contracts hold, and a rate limit cannot silently lose its endpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailer.extensions import current_limiter
from mailer.http.rate_limits import UnknownEndpointError, _limit, client_ip

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept():
    """lint-imports (pyproject.toml) finds every contract kept, imports inside functions included."""
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_limit_on_an_unregistered_endpoint_is_refused(app):
    """A rate limit attached to an endpoint no blueprint has (renamed, removed) stops the build, never vanishes."""
    with app.app_context():
        limiter = current_limiter()
        with pytest.raises(UnknownEndpointError, match="auth.sign_in"):
            _limit(app, limiter, "auth.sign_in", "1/minute", client_ip)
        before = app.view_functions["auth.login"]
        _limit(app, limiter, "auth.login", "1000/minute", client_ip)
    assert app.view_functions["auth.login"] is not before  # a registered endpoint gets the limit's wrapper
