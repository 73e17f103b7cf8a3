"""The console in zh-CN (API.md §14) and the account page."""

from __future__ import annotations

import uuid
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from mailer.extensions import db
from mailer.models import User
from tests.console.axe import assert_accessible, assert_same_origin
from tests.console.conftest import USER_PASSWORD, add_user, follow, sign_in


def test_a_zh_cn_user_sees_chinese(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    add_user(app, "acme", "li@acme.test", locale="zh-CN")
    browser.get(f"{base}/console/login?lang=zh-CN")
    assert browser.find_element(By.TAG_NAME, "h1").text == "登录"
    assert browser.find_element(By.XPATH, "//label[@for='tenant']").text == "组织"
    sign_in(browser, base, "li@acme.test", USER_PASSWORD)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert browser.find_element(By.TAG_NAME, "h1").text == "邮件"
    assert "账户" in browser.find_element(By.CLASS_NAME, "main-nav").text
    assert "退出登录" in browser.find_element(By.CLASS_NAME, "top").text
    assert "js" in browser.find_element(By.TAG_NAME, "html").get_attribute("class")  # its integrity hash held
    assert_accessible(browser)
    browser.get(f"{base}/console/messages/{uuid.uuid4()}")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("页面不存在")


def test_the_language_switch_and_the_account_page(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base, "user@acme.test", USER_PASSWORD)
    Select(browser.find_element(By.ID, "lang-switch")).select_by_value("zh-CN")
    follow(browser, browser.find_element(By.XPATH, "//form[.//select[@id='lang-switch']]//button"))
    assert browser.current_url == f"{base}/console/messages"
    assert browser.find_element(By.TAG_NAME, "h1").text == "邮件"
    with app.app_context():
        assert db.session.get(User, uuid.UUID(acme["user_id"])).locale == "zh-CN"

    browser.get(f"{base}/console/account")
    assert_accessible(browser)
    assert_same_origin(browser, base)
    name = browser.find_element(By.ID, "name")
    name.clear()
    name.send_keys("Ann Lee")
    Select(browser.find_element(By.ID, "locale")).select_by_value("en")
    follow(browser, browser.find_element(By.XPATH, "//form[.//input[@id='name']]//button"))
    assert "Your changes are saved." in browser.find_element(By.TAG_NAME, "main").text
    with app.app_context():
        user = db.session.get(User, uuid.UUID(acme["user_id"]))
        assert (user.name, user.locale) == ("Ann Lee", "en")

    browser.find_element(By.ID, "current_password").send_keys("wrong one")
    browser.find_element(By.ID, "password").send_keys("a new password 42")
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Change password']"))
    assert "The current password is not right." in browser.find_element(By.ID, "current_password-error").text
    browser.find_element(By.ID, "current_password").send_keys(USER_PASSWORD)
    browser.find_element(By.ID, "password").send_keys("a new password 42")
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Change password']"))
    assert "Your password is changed." in browser.find_element(By.TAG_NAME, "main").text
    browser.get(f"{base}/console/account")  # this browser keeps a fresh session
    assert "/console/account" in browser.current_url
