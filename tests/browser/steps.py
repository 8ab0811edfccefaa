"""Steps shared by the browser tests (Playwright, French pages)."""

from __future__ import annotations

from tests.accounts.factories import PASSWORD


def submit_login(page, email: str, password: str = PASSWORD) -> None:
    """Fill in and send the login form; where it leads is the caller's to wait for."""
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(password)
    page.locator("main").get_by_role("button", name="Se connecter", exact=True).click()


def log_in(page, email: str, password: str = PASSWORD) -> None:
    """Log in with the password, landing on the dashboard."""
    submit_login(page, email, password)
    page.wait_for_url("**/espace/**")


def reauthenticate(page, password: str = PASSWORD, *, then: str) -> None:
    """Give the password again when asked, then wait for the page ``then`` (a glob)."""
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Confirmer").click()
    page.wait_for_url(then)
