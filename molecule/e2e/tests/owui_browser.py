"""What a person does in Open WebUI (0.12), in a real browser: Debian's chromium driven through
Debian's chromium-driver by selenium (tests/requirements-apt.txt, requirements.lock). Nothing is
downloaded at run time. Used by test_browser.py (e2e verify) and scripts/screenshot.

Pitfalls of the UI these steps handle (../shared/recipes/browser): the chat box `#chat-input` is a
contenteditable ProseMirror div, not a textarea; an open dialog intercepts clicks on the page; every
assistant message has a `#response-content-container` (the last one is the newest reply), which
renders while the reply streams and shows error notices (e.g. "... does not support tools") too.
"""
import http.client
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CHROMEDRIVER = "/usr/bin/chromedriver"
ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")

# What Open WebUI (or Ollama through it) shows in place of an answer.
ERROR_NOTICES = ("does not support tools", "does not support", "Error submitting message",
                 "Ollama:", "Network Problem", "Failed to fetch", "Model not found", "Internal Server Error")
WHATS_NEW_BUTTON = "//button[contains(., \"Okay, Let's Go\")]"
SIGNIN_ERROR = "[data-sonner-toast][data-type=error]"


class ReplyError(AssertionError):
    pass


def start(width=1400, height=900, extra_args=(), home=None):
    """A headless chromium (works as root), with the console log kept for failure artifacts;
    `extra_args`: more chromium flags (e.g. --ignore-certificate-errors-spki-list=<pin> to trust
    one test certificate, tests/integration/test_openwebui_oidc.py); `home`: its HOME (the NSS
    database of trust_site)."""
    opts = webdriver.ChromeOptions()
    for arg in ARGS + tuple(extra_args) + (f"--window-size={width},{height}",):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    env = {**os.environ, "HOME": home} if home else None
    # An explicit driver path: selenium's driver manager (which could download) is not consulted.
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(CHROMEDRIVER, env=env))


def trust_site(name, address, root_pem, home):
    """Reach https://<name> at `address` and trust the CA in the file `root_pem`, as a person's machine
    that maps the name and imports the root does, with every certificate check left on: chromium
    started with start(home=home, extra_args=<the flags returned>) finds the root as a trusted CA in
    the NSS database of its HOME (`home`/.pki/nssdb, made by certutil from libnss3-tools) and the name
    through --host-resolver-rules; this process's urllib calls (api, api_post, wait_healthy) connect to
    `address` for `name` and verify against `root_pem` (other hosts as before)."""
    nssdb = "sql:" + os.path.join(home, ".pki", "nssdb")
    os.makedirs(nssdb[4:], exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", nssdb, "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", nssdb, "-n", f"CA of {name}", "-t", "C,,", "-i", root_pem], check=True)
    context = ssl.create_default_context(cafile=root_pem)

    class Connection(http.client.HTTPSConnection):
        def connect(self):
            if self.host != name:
                return super().connect()
            self.sock = context.wrap_socket(socket.create_connection((address, self.port), self.timeout),
                                            server_hostname=name)
            return None

    class Handler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(Connection, req)

    urllib.request.install_opener(urllib.request.build_opener(Handler))
    return (f"--host-resolver-rules=MAP {name} {address}",)


def wait(driver, timeout=60):
    return WebDriverWait(driver, timeout, poll_frequency=0.25,
                         ignored_exceptions=(StaleElementReferenceException,))


def save_artifacts(driver, directory, name):
    """Screenshot, console log and page source of the current page; returns the file prefix."""
    os.makedirs(directory, exist_ok=True)
    prefix = os.path.join(directory, name)
    driver.save_screenshot(prefix + ".png")
    try:
        entries = driver.get_log("browser")
    except WebDriverException as e:  # the log type is chromium's; keep the screenshot anyway
        entries = [{"level": "INFO", "message": f"no console log: {e}"}]
    with open(prefix + ".console.log", "w", encoding="utf-8") as f:
        for e in entries:
            f.write(f"{e.get('timestamp', '')} {e.get('level', '')} {e.get('message', '')}\n")
    with open(prefix + ".html", "w", encoding="utf-8") as f:
        f.write(driver.page_source)
    return prefix


# --- signing in ---------------------------------------------------------------------------------
def open_sign_in(driver, base):
    driver.get(base + "/auth")
    return wait(driver).until(EC.visibility_of_element_located((By.ID, "email")))


def submit_sign_in(driver, base, email, password):
    """Fills in the sign-in form and presses Enter (the page is /auth, signed out)."""
    email_input = open_sign_in(driver, base)
    email_input.clear()
    email_input.send_keys(email)
    pw = driver.find_element(By.ID, "password")
    pw.clear()
    pw.send_keys(password + Keys.ENTER)


def sign_in(driver, base, email, password, timeout=60):
    submit_sign_in(driver, base, email, password)
    try:
        return wait(driver, timeout).until(EC.visibility_of_element_located((By.ID, "chat-input")))
    except TimeoutException:
        raise AssertionError(f"not signed in after {timeout} s: {sign_in_error(driver, 0) or 'no message'}") from None


def sign_in_error(driver, timeout=20):
    """The text of the error toast the sign-in page shows, or '' when none appears in time."""
    try:
        toast = wait(driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, SIGNIN_ERROR)))
        return toast.text.strip()
    except TimeoutException:
        return ""


def sso_button(driver, base, provider_name, timeout=60):
    """The sign-in page's "Continue with <provider_name>" button (OAUTH_PROVIDER_NAME)."""
    driver.get(base + "/auth")
    xpath = f"//button[contains(normalize-space(.), 'Continue with {provider_name}')]"
    return wait(driver, timeout).until(EC.element_to_be_clickable((By.XPATH, xpath)))


def sign_out(driver, base):
    driver.get(base + "/auth")
    driver.execute_script("localStorage.removeItem('token')")
    driver.delete_all_cookies()


def token(driver):
    return driver.execute_script("return localStorage.token")


# --- first-run dialogs --------------------------------------------------------------------------
def whats_new_dialog(driver, timeout=5):
    """The "What's New" dialog's button, if the dialog opens within timeout seconds (it opens
    right after the chat page has loaded, for admins, when the version is new to them)."""
    try:
        return wait(driver, timeout).until(EC.visibility_of_element_located((By.XPATH, WHATS_NEW_BUTTON)))
    except TimeoutException:
        return None


def close_whats_new(driver, timeout=0.5):
    button = whats_new_dialog(driver, timeout=timeout)
    if button is not None:
        button.click()
        wait(driver, 10).until(EC.invisibility_of_element_located((By.XPATH, WHATS_NEW_BUTTON)))


# --- chatting -----------------------------------------------------------------------------------
def selected_model(driver):
    """The model the new chat's selector shows ("" when none is selected)."""
    button = wait(driver).until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, "button[id^='model-selector-'][aria-haspopup=listbox]")))
    label = button.get_attribute("aria-label") or ""
    prefix = "Selected model: "
    return label[len(prefix):] if label.startswith(prefix) else ""


def new_chat(driver, base):
    driver.get(base + "/")
    wait(driver).until(EC.visibility_of_element_located((By.ID, "chat-input")))
    close_whats_new(driver, timeout=1.5)  # a person closes it first; test_browser.py checks it is not there
    box = wait(driver).until(EC.element_to_be_clickable((By.ID, "chat-input")))
    # models load after the page: wait until the selector shows one
    wait(driver, 30).until(selected_model)
    return box


def replies(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#response-content-container")


def send(driver, text):
    """Types into the chat box like a person and presses Enter; returns how many replies there
    were before, so wait_reply knows which one is new."""
    before = len(replies(driver))
    box = wait(driver).until(EC.element_to_be_clickable((By.ID, "chat-input")))
    box.click()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    return before


def wait_reply(driver, before, timeout=180, settle=3.0, times=None):
    """Waits for reply number before+1 to appear, finish streaming and stop changing for `settle`
    seconds; returns its text. Raises ReplyError with the text when it is an error notice. With a
    dict `times`: times["first"] = when its first words showed, times["last"] = when it last changed
    or was still streaming (time.monotonic(), for bench/site.py)."""
    state = {"text": None, "since": time.monotonic()}
    times = {} if times is None else times

    def settled(d):
        found = replies(d)
        if len(found) <= before:
            return False
        reply = found[before]
        text = reply.text.strip()
        streaming = reply.find_elements(By.CSS_SELECTOR, ".animate-cursor-pulse")
        now = time.monotonic()
        if text and "first" not in times:
            times["first"] = now
        if text != state["text"] or streaming:
            state["text"], state["since"] = text, now
            return False
        return text if text and now - state["since"] >= settle else False

    try:
        text = wait(driver, timeout).until(settled)
    except TimeoutException:
        stop(driver)  # or the model goes on writing (and holding Ollama) after the browser has gone
        raise ReplyError(f"no settled reply after {timeout} s (last text: {state['text']!r})") from None
    times["last"] = state["since"]
    for notice in ERROR_NOTICES:
        if notice.lower() in text.lower():
            raise ReplyError(f"the reply is an error notice: {text!r}")
    return text


def stop(driver):
    """Presses the chat box's Stop button while a reply is being written (Open WebUI keeps
    generating on the server when the page is closed)."""
    for button in driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Stop']"):
        if button.is_displayed():
            button.click()


def chat_id(driver, timeout=30):
    """The id of the open chat (the URL becomes /c/<id> once the first message is saved)."""
    wait(driver, timeout).until(lambda d: "/c/" in d.current_url)
    return driver.current_url.rsplit("/c/", 1)[1].split("?")[0].split("#")[0]


def open_sidebar(driver):
    """Clicks a visible "Open Sidebar" button; False when there is none (yet, or it is open)."""
    for button in driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Open Sidebar']"):
        if button.is_displayed():
            button.click()
            return True
    return False


def sidebar_chat(driver, cid, timeout=30):
    """The chat's entry in the sidebar's history (a link to /c/<id>), opening the sidebar (it is
    collapsed at first; its button renders after the page) the way a person does."""
    def shown(d):
        for link in d.find_elements(By.CSS_SELECTOR, f"#sidebar a[href='/c/{cid}']"):
            if link.is_displayed():
                return link
        open_sidebar(d)
        return False

    return wait(driver, timeout).until(shown)


def user_messages(driver):
    """The texts of the person's messages in the open chat (with name and time, as shown)."""
    return [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, ".user-message")]


# --- the API behind the page (same origin, the browser's own session) ---------------------------
def api(base, path, tok, timeout=30):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + tok})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def api_post(base, path, tok, body, timeout=30):
    req = urllib.request.Request(base + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def wait_healthy(base, timeout=300):
    """Polls /health and /health/db until both answer 200 (after a restart)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            for path in ("/health", "/health/db"):
                with urllib.request.urlopen(base + path, timeout=5) as resp:
                    assert resp.status == 200
            return
        except Exception as e:  # noqa: BLE001 - connection refused, 5xx while starting
            last = e
            time.sleep(1)
    raise AssertionError(f"Open WebUI at {base} not healthy after {timeout} s: {last}")
