"""/console/users: role and enable/disable through the admin service, with its last-admin rule."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.console.admin import assert_admin_only, check_page, click, globex, h1, notice, sign_in, submit, submit_forged


def _user(app: Any, email: str) -> tuple[str, bool]:
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import User

    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        return user.role, user.is_active


def test_promote_disable_and_the_last_admin_rule(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/users")
    assert h1(browser) == "Users"
    check_page(browser)
    user_id = acme["user_id"]
    disable = browser.find_element(By.CSS_SELECTOR, f"form[action$='/console/users/{user_id}'] input[name=is_active]")
    click(browser, disable.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, "button"))
    assert "changed" in notice(browser)
    assert _user(app, "user@acme.test") == ("user", False)
    # The only admin may not disable or demote themself: the service's rule, said in words.
    admin_form = f"form[action$='/console/users/{acme['admin_id']}']"
    browser.find_element(By.CSS_SELECTOR, f"{admin_form} select option[value=user]").click()
    click(browser, browser.find_element(By.CSS_SELECTOR, f"{admin_form} button"))
    assert "at least one active administrator" in notice(browser)
    assert _user(app, "admin@acme.test") == ("admin", True)
    check_page(browser)
    select_form = f"form[action$='/console/users/{user_id}']"
    browser.find_element(By.CSS_SELECTOR, f"{select_form} select option[value=admin]").click()
    click(browser, browser.find_element(By.CSS_SELECTOR, f"{select_form} select ~ button"))
    assert _user(app, "user@acme.test") == ("admin", False)


def test_without_csrf_nothing_changes(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/users")
    submit_forged(browser, f"/console/users/{acme['user_id']}")
    assert _user(app, "user@acme.test") == ("user", True)


def test_another_tenants_user_is_not_found_and_a_user_is_refused(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    other = globex(app)
    sign_in(browser, base)
    browser.get(f"{base}/console/users")
    browser.execute_script(
        "document.querySelector(arguments[0]).action = arguments[1]",
        f"form[action$='/console/users/{acme['user_id']}']", f"/console/users/{other['admin_id']}")
    submit(browser, f"/console/users/{other['admin_id']}")
    assert h1(browser).startswith("Page not found")
    assert _user(app, "admin@globex.test") == ("admin", True)
    assert_admin_only(browser, base, "/console/users")
