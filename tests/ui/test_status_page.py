"""The status page in headless chromium: the key, live numbers, cooldowns, actions,
keyboard use and both colour schemes."""

from __future__ import annotations

import re

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import A, B, MODEL, SECRET, screenshot_dir, wait_for


def open_page(d, gw, path="/status"):
    d.get(gw.url + path)
    wait_for("the key form", lambda: d.find_element(By.ID, "key").is_displayed())


def sign_in(d, key=SECRET):
    box = d.find_element(By.ID, "key")
    box.clear()
    box.send_keys(key, Keys.ENTER)


def row(d, name):
    return d.find_element(By.CSS_SELECTOR, f'tr[data-account="{name}"]')


def signed_in(d):
    return d.find_element(By.ID, "app").is_displayed() and d.find_elements(By.CSS_SELECTOR, "tr[data-account]")


def console_errors(d):
    return [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_a_wrong_key_is_refused_and_nothing_is_shown(gw, browser):
    open_page(browser, gw)
    assert not browser.find_element(By.ID, "app").is_displayed()
    sign_in(browser, "not-the-key")
    msg = wait_for("the refusal", lambda: browser.find_element(By.ID, "login-error").text)
    assert "refused" in msg
    assert not browser.find_element(By.ID, "app").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-account]") == []
    assert "a@example.com" not in browser.page_source
    assert browser.execute_script("return sessionStorage.length") == 0
    # The API behind it says the same without any key.
    code, _, _ = gw.api("GET", "/status", key=None)
    assert code == 401


def test_the_page_loads_with_the_key_and_keeps_it_for_the_tab(gw, browser):
    open_page(browser, gw, "/management.html")
    sign_in(browser)
    wait_for("accounts", lambda: signed_in(browser))
    a = row(browser, A)
    assert "a@example.com" in a.text and "claude" in a.text and "max" in a.text
    assert re.search(r"in (23h|1d)", a.find_element(By.CSS_SELECTOR, ".expiry").text), a.text
    assert "ok" in a.find_element(By.CSS_SELECTOR, ".badge").text
    # Asked once: a reload signs in from sessionStorage.
    browser.refresh()
    wait_for("accounts after a reload", lambda: signed_in(browser))
    assert not browser.find_element(By.ID, "login").is_displayed()
    assert SECRET not in browser.page_source
    assert console_errors(browser) == []


def test_a_cooling_account_shows_its_model_reason_and_a_running_countdown(gw, browser):
    open_page(browser, gw)
    sign_in(browser)
    wait_for("accounts", lambda: signed_in(browser))
    gw.make_cooling(A, "at-a")
    cell = wait_for(
        "the cooldown on the page",
        lambda: (c := row(browser, A).find_element(By.CSS_SELECTOR, ".state")) and "cooling" in c.text and c,
    )
    text = cell.text
    assert MODEL in text and "rate limited (429)" in text, text
    first = cell.find_element(By.CSS_SELECTOR, ".cooldown .countdown").text
    assert re.match(r"ends in \d+m \d+s", first), first
    wait_for(
        "the countdown to move",
        lambda: row(browser, A).find_element(By.CSS_SELECTOR, ".cooldown .countdown").text != first,
    )
    # Clearing it from the page.
    clear = row(browser, A).find_element(By.XPATH, ".//button[normalize-space()='Clear cooldown']")
    clear.click()
    wait_for("state ok", lambda: "ok" == row(browser, A).find_element(By.CSS_SELECTOR, ".badge").text)
    assert gw.account(A)["state"]["state"] == "ok"
    assert console_errors(browser) == []


def test_a_request_made_meanwhile_appears_in_the_live_numbers(gw, browser):
    open_page(browser, gw)
    sign_in(browser)
    wait_for("accounts", lambda: signed_in(browser))
    before = int(browser.find_element(By.ID, "today-requests").text.replace(",", ""))
    gw.message()
    wait_for(
        "the request in today's numbers",
        lambda: int(browser.find_element(By.ID, "today-requests").text.replace(",", "")) > before,
    )
    served = [n for n in (A, B) if gw.account(n)["usage"]["requests"] > 0]
    assert served, gw.status()["accounts"]
    wait_for(
        "the account's row counts it",
        lambda: row(browser, served[0]).find_element(By.CSS_SELECTOR, ".requests").text == "1",
    )
    assert row(browser, served[0]).find_element(By.CSS_SELECTOR, ".last-used").text != "never"
    # The charts draw it, per model and per account.
    wait_for("a bar", lambda: browser.find_elements(By.CSS_SELECTOR, "#chart-requests svg rect"))
    assert MODEL in browser.find_element(By.ID, "legend").text
    browser.find_element(By.ID, "by-account").click()
    assert browser.find_element(By.ID, "by-account").get_attribute("aria-pressed") == "true"
    wait_for("the account legend", lambda: "claude:" in browser.find_element(By.ID, "legend").text)
    assert console_errors(browser) == []


def test_disabling_an_account_from_the_page_changes_its_state_and_the_api_agrees(gw, browser):
    open_page(browser, gw)
    sign_in(browser)
    wait_for("accounts", lambda: signed_in(browser))
    row(browser, B).find_element(By.XPATH, ".//button[normalize-space()='Disable']").click()
    wait_for("disabled", lambda: row(browser, B).find_element(By.CSS_SELECTOR, ".badge").text == "disabled")
    assert gw.account(B)["state"]["state"] == "disabled"
    assert gw.account(B)["disabled"] is True
    enable = wait_for(
        "the Enable button",
        lambda: row(browser, B).find_element(By.XPATH, ".//button[normalize-space()='Enable']"),
    )
    enable.click()
    wait_for("enabled", lambda: row(browser, B).find_element(By.CSS_SELECTOR, ".badge").text == "ok")
    assert gw.account(B)["disabled"] is False
    assert console_errors(browser) == []


def test_refresh_now_from_the_page_renews_the_token(gw, browser):
    gw.standin.seed_oauth(refresh_tokens=[{"token": "rt-a", "email": "a@example.com"}])
    open_page(browser, gw)
    sign_in(browser)
    wait_for("accounts", lambda: signed_in(browser))
    row(browser, A).find_element(By.XPATH, ".//button[normalize-space()='Refresh now']").click()
    wait_for("done", lambda: "done" in browser.find_element(By.ID, "notice").text)
    import json

    assert json.loads((gw.g.auth_dir / A).read_text())["access_token"] != "at-a"


def test_the_page_works_from_the_keyboard(gw, browser):
    open_page(browser, gw)
    # The key field has the focus from the start; before it only the skip link.
    assert browser.switch_to.active_element.get_attribute("id") == "key"
    browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("class") == "skip"
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "key"
    browser.switch_to.active_element.send_keys(SECRET, Keys.ENTER)
    wait_for("accounts", lambda: signed_in(browser))
    # Tab through everything: every action is a real, focusable button, in reading order.
    # After signing in the focus is on the content; from the top of the page:
    browser.execute_script("document.querySelector('.skip').focus()")
    seen = []
    for _ in range(40):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        e = browser.switch_to.active_element
        if e.tag_name == "body" or (seen and e == seen[0]):
            break
        seen.append(e)
    labels = [(e.tag_name, e.text) for e in seen]
    assert ("button", "Sign out") in labels, labels
    for name in ("Refresh now", "Disable", "Log in", "Per model", "Per account"):
        assert ("button", name) in labels, labels
    assert all(t in ("button", "a", "input") for t, _ in labels), labels
    # The focused control is visibly marked.
    disable = next(e for e in seen if e.text == "Disable")
    disable_row = disable.find_element(By.XPATH, "./ancestor::tr").get_attribute("data-account")
    browser.execute_script("arguments[0].focus()", disable)
    browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    browser.switch_to.active_element.send_keys(Keys.TAB)
    outline = browser.execute_script(
        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]"
    )
    assert outline[0] != "none" and outline[1] != "0px", outline
    # Enter on the focused button acts, and the focus survives the page's updates.
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(
        "disabled",
        lambda: row(browser, disable_row).find_element(By.CSS_SELECTOR, ".badge").text == "disabled",
    )
    wait_for("an update", lambda: "updated" in browser.find_element(By.ID, "live").text)
    assert browser.switch_to.active_element.text == "Enable"
    assert console_errors(browser) == []


CONTRAST_JS = """
function lum(c) {
  const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
  const [r, g, b, a] = m[1].split(',').map(Number);
  if (a === 0) return null;
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}
function bg(e) {
  for (; e; e = e.parentElement) { const l = lum(getComputedStyle(e).backgroundColor); if (l !== null) return l; }
  return lum('rgb(255,255,255)');
}
const out = [];
for (const sel of arguments[0]) {
  for (const e of document.querySelectorAll(sel)) {
    if (!e.offsetParent && e.tagName !== 'BODY') continue;
    const fg = lum(getComputedStyle(e).color), b = bg(e);
    const ratio = (Math.max(fg, b) + 0.05) / (Math.min(fg, b) + 0.05);
    out.push([sel, e.textContent.trim().slice(0, 30), Math.round(ratio * 100) / 100]);
  }
}
return out;
"""

TEXT = ["body", "h1", "h2", "th", "td", ".sub", ".badge", "button", "dt", "dd", ".live", "figcaption", ".legend li", "code"]


def test_light_and_dark_are_readable(gw, browser_factory, tmp_path):
    gw.make_cooling(A, "at-a")
    gw.message()
    shots = screenshot_dir(tmp_path)
    backgrounds = {}
    for dark in (False, True):
        d = browser_factory(dark)
        open_page(d, gw)
        sign_in(d)
        wait_for("accounts", lambda: signed_in(d))
        wait_for("the cooling row", lambda: "cooling" in row(d, A).text)
        wait_for("a bar", lambda: d.find_elements(By.CSS_SELECTOR, "#chart-requests svg rect"))
        scheme = "dark" if dark else "light"
        assert d.execute_script(f"return matchMedia('(prefers-color-scheme: {scheme})').matches")
        ratios = d.execute_script(CONTRAST_JS, TEXT)
        assert len(ratios) > 20, ratios
        low = [r for r in ratios if r[2] < 4.5]
        assert low == [], f"{scheme}: text below 4.5:1 contrast: {low}"
        backgrounds[scheme] = d.execute_script("return getComputedStyle(document.body).backgroundColor")
        d.set_window_size(1400, 1600)
        assert d.save_screenshot(str(shots / f"status-{scheme}.png"))
        assert console_errors(d) == []
    assert backgrounds["light"] != backgrounds["dark"], backgrounds
