"""The phone bar in real Chromium (Debian's ``chromium``, driven by Playwright's sync API):
a whole day from the browser against the demo simulator, a supervisor in a second browser
context, a host page embedding ``<cti-phone-bar>``, and the password kept out of every page,
response, frame, log and the browser's storage.

After every step the buttons the page enables are exactly the commands the server-side
agent allows (``Agent.allowed()``, less the login the bar made itself), and the state the
page shows is the agent's. Each step is screenshotted into the test's ``tmp_path``.

The bar's server runs the real ``cti-fsm phonebar --demo`` code (``run_phonebar``) under
trio in a thread of its own; one browser serves the whole module.
"""

from __future__ import annotations

import io
import json
import logging
import pathlib
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
from cti_fsm_csta_ws import adapter
from playwright.sync_api import Browser, Page, WebSocket, WebSocketRoute, sync_playwright

from cti_fsm import Machine, diagram, load_chart, open_agent
from cti_fsm.events import Notification
from cti_fsm.phonebar import protocol
from cti_fsm.phonebar.protocol import BarState
from cti_fsm.phonebar.run import Running, run_phonebar

CHROMIUM = shutil.which("chromium")
#: the CRM's origin: a secure context, as Chromium lets only those reach a loopback server
#: (and only with the user's "local network access" permission, granted in the test)
HOST_ORIGIN = "https://crm.test"
#: the seed's notifications a call produces, in the order a host page must hear them
CALL_EVENTS = {"onCheckIn", "onCallInRing", "onCallIn", "onInCall", "onIdle", "onHold"}


class BarThread:
    """The phone bar's demo server under trio in a thread; ``call`` runs a function there."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.running: Running | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._thread, daemon=True)
        self._stop: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None

    def _thread(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.running = await nursery.start(
                lambda task_status: run_phonebar(
                    vendor="csta-ws",
                    url=None,
                    demo=True,
                    port=0,
                    allow_origins=[HOST_ORIGIN],
                    team_every=0.3,
                    out=io.StringIO(),
                    task_status=task_status,
                )
            )
            self.ready.set()
            await self._stop.wait()
            # bars whose pages closed log their agents out before the server stops
            with trio.move_on_after(5):
                while self.running.app.state.bars:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    def start(self) -> BarThread:
        self.thread.start()
        self.ready.wait(20)
        if self.error is not None or self.running is None:
            raise RuntimeError("the phone bar did not start") from self.error
        return self

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def stop(self) -> None:
        assert self._stop is not None
        self.call(self._stop.set)
        self.thread.join(15)
        assert not self.thread.is_alive()

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.url

    @property
    def simulator_url(self) -> str:
        assert self.running is not None and self.running.world is not None
        return str(self.running.world.simulator.url)

    @property
    def switch(self) -> Any:
        assert self.running is not None and self.running.world is not None
        return self.running.world.switch

    def truth(self, user: str) -> tuple[str | None, list[str]]:
        """The server-side agent of ``user``'s bar: its state and allowed commands."""

        def look() -> tuple[str | None, list[str]]:
            assert self.running is not None
            for bar in self.running.app.state.bars:
                if bar.user == user and bar.agent is not None:
                    allowed = set(bar.agent.allowed()) - {bar.lifecycle.connect}
                    return bar.agent.state, sorted(allowed)
            return None, []

        result: tuple[str | None, list[str]] = self.call(look)
        return result


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None, "Debian's chromium is needed (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.fixture
def bar() -> Iterator[BarThread]:
    server = BarThread().start()
    yield server
    server.stop()


class Steps:
    """Screenshots of each step, numbered, into the test's tmp_path."""

    def __init__(self, where: pathlib.Path) -> None:
        self.where = where
        self.n = 0

    def shot(self, page: Page, name: str) -> None:
        self.n += 1
        page.screenshot(path=str(self.where / f"{self.n:02d}-{name}.png"), full_page=True)


SHOWN = """() => {
  const bar = document.querySelector("cti-phone-bar");
  const root = bar.shadowRoot;
  const enabled = new Set();
  for (const b of root.querySelectorAll("button[data-command]")) {
    if (!b.disabled && b.offsetParent !== null) enabled.add(b.dataset.command);
  }
  const state = root.querySelector(".state");
  return {attr: bar.dataset.state || null, shown: state.dataset.state || null,
          visible: state.offsetParent !== null, enabled: [...enabled].sort()};
}"""


def settle(
    page: Page, bar: BarThread, user: str, until: str | None = None, timeout: float = 6.0
) -> str:
    """Wait until the agent is in state ``until`` (if given) and the page shows its state
    and enables exactly what it allows; returns the state."""
    last: Any = None
    for _ in range(int(timeout / 0.03)):
        state, allowed = bar.truth(user)
        shown = page.evaluate(SHOWN)
        last = (state, allowed, shown)
        if (
            state is not None
            and (until is None or state == until)
            and shown["visible"]
            and shown["attr"] == shown["shown"] == state
            and shown["enabled"] == allowed
        ):
            return state
        page.wait_for_timeout(30)
    raise AssertionError(f"the page never matched its agent: (state, allowed, page) = {last}")


def log_in(page: Page, bar: BarThread, user: str) -> None:
    page.goto(bar.url + "/")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", f"pw{user}")
    page.click("form.login button[type=submit]")
    settle(page, bar, user)


def command(page: Page, name: str) -> None:
    page.click(f".commands button[data-command={name}]")


def send_form(page: Page, picks: dict[str, str | list[str]]) -> None:
    for arg, value in picks.items():
        page.select_option(f".args select[data-pick={arg}]", value)
    page.click(".args button[type=submit]")


def world(page: Page, action: str, **args: str) -> None:
    for name, value in args.items():
        page.fill(f"button[data-world={action}] ~ input[data-world-arg={name}]", value)
    page.click(f"button[data-world={action}]")


def enabled(page: Page) -> set[str]:
    return set(page.evaluate(SHOWN)["enabled"])


async def _colleague(url: str, ready: Callable[[], None], done: trio.Event) -> None:
    # agent 1002, checked in to support: the party the consultation rings
    async with open_agent(adapter, url, "1002", "pw1002") as agent:
        await agent.check_in("support")
        ready()
        await done.wait()


def test_a_whole_day_from_the_browser(
    browser: Browser, bar: BarThread, tmp_path: pathlib.Path
) -> None:
    steps = Steps(tmp_path)
    agent_ctx = browser.new_context(viewport={"width": 1100, "height": 800})
    page = agent_ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # log in, check in to a group picked from the agent's own groups
    log_in(page, bar, "1001")
    assert bar.truth("1001")[0] == "connected"
    steps.shot(page, "logged-in")
    command(page, "check_in")
    send_form(page, {"group_ids": ["sales"]})
    settle(page, bar, "1001", "checked_in.available.idle")
    steps.shot(page, "checked-in")

    # a call arrives: the toast with caller id, group and ring timer
    world(page, "customer_calls", group="sales", caller="+442079460001")
    settle(page, bar, "1001", "checked_in.ringing")
    toast = page.locator(".toast")
    assert toast.is_visible()
    assert "+442079460001" in toast.inner_text()
    page.wait_for_function(
        "() => /ringing 00:0[1-9]/.test(document.querySelector('cti-phone-bar')"
        ".shadowRoot.querySelector('.ring-timer').textContent)",
        timeout=4000,
    )
    steps.shot(page, "ringing-toast")

    command(page, "answer")
    settle(page, bar, "1001", "checked_in.talking")
    assert not toast.is_visible()
    steps.shot(page, "talking")

    # hold: the buttons change
    talking = enabled(page)
    command(page, "hold")
    settle(page, bar, "1001", "checked_in.held")
    held = enabled(page)
    assert "retrieve" in held and "hold" not in held and "hold" in talking
    assert "send_dtmf" not in held  # the dial pad goes with it
    assert not page.locator(".dialpad").is_visible()
    steps.shot(page, "held")
    command(page, "retrieve")
    settle(page, bar, "1001")

    # the dial pad sends DTMF in the call
    page.click(".dialpad button[data-key='5']")
    page.wait_for_function(
        "() => [...document.querySelector('cti-phone-bar').shadowRoot"
        ".querySelectorAll('.log li')].some(li => li.textContent.endsWith('onDtmfSent'))",
        timeout=4000,
    )

    # consult a group picked from the transfer groups, the consulted party answers,
    # complete the transfer
    done = trio.Event()
    colleague_ready = threading.Event()
    bar.call(bar.nursery.start_soon, _colleague, bar.simulator_url, colleague_ready.set, done)
    assert colleague_ready.wait(10)
    command(page, "consult")
    options = page.locator(".args select[data-pick=target] option").all_inner_texts()
    assert "Support (support)" in options and "Sales (sales)" in options
    send_form(page, {"target": "support"})
    settle(page, bar, "1001", "checked_in.consulting.consult_ringing")
    steps.shot(page, "consulting")
    world(page, "consulted_answers")
    page.wait_for_function(
        "() => [...document.querySelector('cti-phone-bar').shadowRoot"
        ".querySelectorAll('.log li')].some(li => li.textContent.endsWith('onConsult'))",
        timeout=4000,
    )
    settle(page, bar, "1001")
    command(page, "complete_transfer")
    settle(page, bar, "1001", "checked_in.available.idle")
    assert bar.call(bar.switch.chart_state, "1002") == "checked_in.talking"
    steps.shot(page, "transferred")
    bar.call(done.set)

    # not ready with a reason code from the list, and ready again
    command(page, "pause")
    send_form(page, {"reason": "lunch"})
    settle(page, bar, "1001", "checked_in.available.paused")
    assert bar.call(lambda: bar.switch.agent_info("1001").reason) == "lunch"
    steps.shot(page, "paused")
    command(page, "restore")
    settle(page, bar, "1001")

    # a supervisor in a second browser context: the team, listen, barge in, take over
    sup_ctx = browser.new_context(viewport={"width": 1100, "height": 800})
    sup = sup_ctx.new_page()
    sup.on("pageerror", lambda e: errors.append(str(e)))
    log_in(sup, bar, "9001")
    team = sup.locator(".team")
    assert team.is_visible()
    assert not page.locator(".team").is_visible()  # an agent without rights has no panel
    command(sup, "check_in")
    send_form(sup, {"group_ids": ["sales"]})
    settle(sup, bar, "9001")
    command(sup, "pause")
    send_form(sup, {"reason": "meeting"})
    settle(sup, bar, "9001", "checked_in.available.paused")
    world(page, "customer_calls", group="sales", caller="+442079460002")
    settle(page, bar, "1001", "checked_in.ringing")
    command(page, "answer")
    settle(page, bar, "1001", "checked_in.talking")
    row = sup.locator(".team tr[data-agent='1001']")
    assert row.locator("button[data-command=logout_agent]").inner_text() == "Force out"
    row.locator("button[data-command=listen]").click()
    settle(sup, bar, "9001", "checked_in.listening")
    steps.shot(sup, "supervisor-listening")
    row.locator("button[data-command=join_talk]").click()
    settle(sup, bar, "9001", "checked_in.three_party")
    settle(page, bar, "1001", "checked_in.three_party")
    steps.shot(sup, "supervisor-barged-in")
    steps.shot(page, "agent-three-party")
    row.locator("button[data-command=disconnect_call]").click()
    settle(sup, bar, "9001", "checked_in.talking")
    settle(page, bar, "1001", "checked_in.available.idle")
    command(sup, "hangup")
    settle(sup, bar, "9001")

    # the link drops: the banner shows while the agent reconnects, then goes
    page.evaluate(BANNER_WATCH)
    world(page, "link_drops")
    page.wait_for_function("() => window.bannerSeen.length > 0", timeout=5000)
    assert "reconnecting" in page.evaluate("() => window.bannerSeen[0]")
    settle(page, bar, "1001", "checked_in.available.idle")
    assert not page.locator(".banner").is_visible()

    # log out: back to the login form
    command(page, "disconnect")
    page.locator("form.login").wait_for(state="visible", timeout=5000)
    steps.shot(page, "logged-out")
    assert errors == []
    sup_ctx.close()
    agent_ctx.close()
    assert len(list(tmp_path.glob("*.png"))) == steps.n >= 12


BANNER_WATCH = """() => {
  window.bannerSeen = [];
  const banner = document.querySelector("cti-phone-bar").shadowRoot.querySelector(".banner");
  new MutationObserver(() => { if (!banner.hidden) window.bannerSeen.push(banner.textContent); })
    .observe(banner, {attributes: true, childList: true, characterData: true, subtree: true});
}"""

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
#: the README's embedding example, run as the CRM's page
EMBED = re.findall(r"```html\n(.*?)\n```", README, re.S)[0]

HOST_PAGE = """<!doctype html>
<html><head><title>CRM</title></head>
<body><h1>Customer record</h1><p id="caller">none</p>
<script>
  window.showCustomer = (number) => {{ document.getElementById("caller").textContent = number; }};
  window.heard = [];
  for (const name of {names}) {{
    document.addEventListener(name, (e) => window.heard.push([name, e.detail]));
  }}
</script>
{embed}
</body></html>"""


def test_a_host_page_embeds_the_bar_and_hears_its_events_in_order(
    browser: Browser, bar: BarThread, tmp_path: pathlib.Path
) -> None:
    names = sorted(CALL_EVENTS | {"onConnect", "onGetOrgAgtgrps"})
    ctx = browser.new_context(permissions=["local-network-access"])
    # the CRM's page, served by the route (nothing leaves the machine)
    ctx.route(
        f"{HOST_ORIGIN}/**",
        lambda route: route.fulfill(
            content_type="text/html",
            body=HOST_PAGE.format(
                names=json.dumps(names), embed=EMBED.replace("http://127.0.0.1:8700", bar.url)
            ),
        ),
    )
    page = ctx.new_page()
    page.goto(f"{HOST_ORIGIN}/customer")
    assert page.locator("cti-phone-bar input[name=user]").input_value() == "1001"
    page.locator("cti-phone-bar input[name=password]").fill("pw1001")
    page.click("cti-phone-bar form.login button[type=submit]")
    settle(page, bar, "1001")
    page.evaluate(
        "() => document.querySelector('cti-phone-bar').command('check_in', {group_ids: 'sales'})"
    )
    settle(page, bar, "1001", "checked_in.available.idle")
    call = bar.call(lambda: bar.switch.inbound_call("sales", caller="+15550123"))
    settle(page, bar, "1001", "checked_in.ringing")
    page.wait_for_function("() => document.getElementById('caller').textContent === '+15550123'")
    command(page, "answer")
    settle(page, bar, "1001")
    bar.call(bar.switch.customer_hangs_up, call)
    settle(page, bar, "1001", "checked_in.available.idle")
    page.screenshot(path=str(tmp_path / "host-page.png"), full_page=True)
    heard = page.evaluate("() => window.heard")
    order = [name for name, _ in heard if name in CALL_EVENTS | {"onConnect"}]
    assert order == ["onConnect", "onCheckIn", "onCallInRing", "onCallIn", "onInCall", "onIdle"]
    ring = next(detail for name, detail in heard if name == "onCallInRing")
    assert ring["phone_number"] == "+15550123" and ring["call_id"] == call
    assert any(name == "onGetOrgAgtgrps" for name, _ in heard)
    ctx.close()


def test_the_password_is_in_no_response_frame_page_log_or_storage(
    browser: Browser, bar: BarThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "pw1001"
    ctx = browser.new_context()
    page = ctx.new_page()
    seen: list[str] = []

    def on_response(response: Any) -> None:
        try:
            seen.append(response.text())
        except Exception:  # a response without a body (204)
            seen.append("")
        seen.append(json.dumps(response.headers))

    def on_websocket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: seen.append(str(payload)))

    page.on("response", on_response)
    page.on("websocket", on_websocket)
    log_in(page, bar, "1001")
    command(page, "check_in")
    send_form(page, {"group_ids": ["sales"]})
    settle(page, bar, "1001")
    assert seen and any('"type":"view"' in s for s in seen)
    assert all(secret not in s for s in seen)
    # not in the page, its shadow root, its form, or anything the browser keeps
    assert secret not in page.content()
    assert secret not in page.evaluate(
        "() => document.querySelector('cti-phone-bar').shadowRoot.innerHTML"
    )
    assert page.locator("input[name=password]").input_value() == ""
    kept = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
        " document.cookie])"
    )
    assert secret not in kept and secret not in json.dumps(ctx.storage_state())
    # nor in any log line, the server's or the agent's
    command(page, "disconnect")
    page.locator("form.login").wait_for(state="visible", timeout=5000)
    assert caplog.records and secret not in caplog.text
    assert re.search(r"phone bar: 1001 logged in", caplog.text)
    ctx.close()


def test_the_bar_is_keyboard_operable_with_aria_roles(browser: Browser, bar: BarThread) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(bar.url + "/")
    # log in with the keyboard alone
    page.focus("input[name=user]")
    page.keyboard.type("1001")
    page.keyboard.press("Tab")
    page.keyboard.type("pw1001")
    page.keyboard.press("Enter")
    settle(page, bar, "1001", "connected")
    assert page.get_by_role("toolbar", name="Commands").is_visible()
    assert page.get_by_role("status", name="State").inner_text().lower() == "connected"
    assert page.get_by_role("timer", name="Time in this state").is_visible()
    # a command with arguments: its form takes the focus, Escape gives it back
    check_in = page.locator(".commands button[data-command=check_in]")
    check_in.focus()
    page.keyboard.press("Enter")
    form = page.get_by_role("form", name="Check in: arguments")
    assert form.is_visible()
    assert (
        page.evaluate(
            "() => document.querySelector('cti-phone-bar').shadowRoot.activeElement.dataset.pick"
        )
        == "group_ids"
    )
    page.keyboard.press("Escape")
    assert not form.is_visible()
    assert (
        page.evaluate(
            "() => document.querySelector('cti-phone-bar').shadowRoot.activeElement.dataset.command"
        )
        == "check_in"
    )
    # again, typing the group instead of picking it, sent with Enter
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type("sales")
    page.keyboard.press("Enter")
    settle(page, bar, "1001", "checked_in.available.idle")
    # a call: the dial pad takes digits typed on the keyboard
    call = bar.call(lambda: bar.switch.inbound_call("sales", caller="+15550999"))
    settle(page, bar, "1001", "checked_in.ringing")
    assert "+15550999" in page.get_by_role("alert").filter(has_text="Incoming call").inner_text()
    command(page, "answer")
    settle(page, bar, "1001", "checked_in.talking")
    pad = page.get_by_role("group", name="Dial pad (sends DTMF)")
    page.evaluate(
        "() => { window.dtmf = []; document.querySelector('cti-phone-bar')"
        ".addEventListener('onDtmfSent', (e) => window.dtmf.push(e.detail.digits)); }"
    )
    pad.locator("button[data-key='1']").focus()
    page.keyboard.press("7")
    page.keyboard.press("#")
    page.wait_for_function("() => window.dtmf.length === 2", timeout=4000)
    assert page.evaluate("() => window.dtmf") == ["7", "#"]
    bar.call(bar.switch.customer_hangs_up, call)
    settle(page, bar, "1001", "checked_in.available.idle")
    ctx.close()


def test_a_chart_of_your_own_gets_its_buttons_in_the_page(browser: Browser, bar: BarThread) -> None:
    # the page against a scripted websocket speaking the bar's protocol for the
    # after-call-work chart: no code knows its commands, yet each gets its button
    chart = load_chart(pathlib.Path(__file__).parents[1] / "charts" / "after_call_work.yaml")
    hello = protocol.hello_frame(
        chart,
        vendor="mine",
        unsupported=(),
        login_command="connect",
        svg=diagram(chart, "svg"),
        mermaid=diagram(chart, "mermaid"),
        demo=None,
    )
    machine = Machine(chart)
    machine.jump("checked_in.wrap_up")
    state = BarState(since=0.0)
    state.observe(Notification("onWrapUp", {"seconds": 30}), 0.0)
    view = protocol.view_frame(
        machine, (), state, user="1001", connected=True, now=2.0, wall=0.0, login_command="connect"
    )
    sent: list[dict[str, Any]] = []

    def scripted(ws: WebSocketRoute) -> None:
        ws.send(hello)

        def on_message(message: str | bytes) -> None:
            frame = json.loads(message)
            sent.append(frame)
            if frame["type"] == "login":
                ws.send(view)

        ws.on_message(on_message)

    ctx = browser.new_context()
    page = ctx.new_page()
    page.route_web_socket(re.compile(r".*/ws$"), scripted)
    page.goto(bar.url + "/")
    page.fill("input[name=user]", "1001")
    page.fill("input[name=password]", "pw1001")
    page.click("form.login button[type=submit]")
    page.wait_for_selector("cti-phone-bar[data-state='checked_in.wrap_up']")
    shown = page.evaluate(SHOWN)
    assert shown["enabled"] == sorted(json.loads(view)["allowed"])
    assert {"finish_wrap_up", "extend_wrap_up", "pause"} <= set(shown["enabled"])
    assert page.locator(".commands button[data-command=finish_wrap_up]").inner_text() == (
        "Finish wrap-up"
    )
    page.wait_for_function(
        "() => /WrapUp 00:2[0-8] left/.test(document.querySelector('cti-phone-bar')"
        ".shadowRoot.querySelector('.countdown').textContent)",
        timeout=3000,
    )
    current = page.evaluate(
        "() => [...document.querySelector('cti-phone-bar').shadowRoot"
        ".querySelectorAll('g.current > title')].map(t => t.textContent)"
    )
    assert current == ["checked_in.wrap_up"]
    # a command with a number argument: its form sends a number
    command(page, "extend_wrap_up")
    page.fill(".args input[data-arg=seconds]", "60")
    page.click(".args button[type=submit]")
    command(page, "finish_wrap_up")
    for _ in range(100):
        if len([f for f in sent if f["type"] == "command"]) == 2:
            break
        page.wait_for_timeout(20)
    commands = [(f["name"], f["args"]) for f in sent if f["type"] == "command"]
    assert commands == [("extend_wrap_up", {"seconds": 60}), ("finish_wrap_up", {})]
    assert sent[0] == {"type": "login", "user": "1001", "password": "pw1001"}
    ctx.close()
