/*
 * <cti-phone-bar>: the cti-fsm phone bar as a custom element (plain JavaScript, no build).
 *
 * Include it with one script tag served by the bar's server:
 *   <script src="http://127.0.0.1:8700/phone-bar.js"></script>
 *   <cti-phone-bar user="1001"></cti-phone-bar>
 * It opens one websocket to the server that served this script, shows the login form, and
 * then draws what the server pushes: the buttons come from the chart's commands and their
 * declared arguments, enabled exactly when the server says the command is allowed now.
 * The browser only sends commands; the server checks each against the chart.
 *
 * Every notification is dispatched on the element as a DOM CustomEvent of the seed's name
 * (onCallInRing, onIdle, ...) with the payload as `detail`, bubbling and composed.
 *
 * The password is read from the form once, sent in the login frame, and cleared: it is
 * never put in an attribute, in storage, or in the page.
 */
(() => {
  "use strict";
  if (customElements.get("cti-phone-bar")) return;

  const SCRIPT = document.currentScript && document.currentScript.src;
  const HOME = new URL(SCRIPT || window.location.href);

  // labels for the default chart's commands; any other command shows its own name
  const LABELS = {
    check_in: "Check in", check_out: "Check out", pause: "Not ready", restore: "Ready",
    dial_out: "Dial", answer: "Answer", hangup: "Hang up", hold: "Hold",
    retrieve: "Retrieve", send_dtmf: "Send DTMF", transfer: "Transfer", consult: "Consult",
    cancel_consult: "Cancel consult", complete_transfer: "Complete transfer",
    conference: "Conference", listen: "Listen", join_talk: "Barge in",
    disconnect_call: "Take over", logout_agent: "Force out", disconnect: "Log out",
    get_transfer_groups: "Transfer groups", get_agent_groups: "My groups",
    get_all_agents: "Refresh team", get_rights: "My rights",
    set_next_state: "Next state", wrap_up: "Wrap up", finish_wrap_up: "Finish wrap-up",
  };
  const label = (name) => LABELS[name] || name.replace(/_/g, " ");
  const DIAL_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
  const MAX_LOG = 50;

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === false || v === null || v === undefined) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c) node.append(c);
    return node;
  };

  const clock = (seconds) => {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${two(m)}:${two(r)}`;
  };

  class CtiPhoneBar extends HTMLElement {
    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
      this.hello = null;
      this.view = null;
      this.ws = null;
      this.nextId = 1;
      this.waiting = new Map();
      this.stateStart = 0;
      this.countdownEnd = null;
      this.retry = 0;
      this.closed = false;
      this.built = false;
    }

    // --- public API ------------------------------------------------------------------------
    /** The agent's state path, as the server last said. */
    get state() { return this.view ? this.view.state : null; }
    /** The commands allowed now. */
    get allowed() { return this.view ? this.view.allowed.slice() : []; }
    /** Log in (the password goes in one frame and is not kept). */
    login(user, password) { this.send({ type: "login", user: String(user), password: String(password) }); }
    /** Send a chart command; resolves with the server's result frame. */
    command(name, args = {}) { return this.request({ type: "command", name, args }); }

    connectedCallback() {
      // built here, not in the constructor: a parsed element has no attributes until now
      if (!this.built) { this.build(); this.built = true; }
      this.closed = false;
      this.open();
      this.ticker = setInterval(() => this.tick(), 250);
    }
    disconnectedCallback() {
      this.closed = true;
      clearInterval(this.ticker);
      if (this.ws) this.ws.close();
    }

    // --- the websocket ---------------------------------------------------------------------
    open() {
      const base = new URL(this.getAttribute("server") || HOME.origin);
      const scheme = base.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${base.host}/ws`);
      this.ws = ws;
      ws.addEventListener("open", () => { this.retry = 0; this.banner(null); });
      ws.addEventListener("message", (e) => this.receive(e.data));
      ws.addEventListener("close", () => {
        if (this.ws !== ws || this.closed) return;
        for (const [, done] of this.waiting) done({ ok: false, message: "the phone bar server went away" });
        this.waiting.clear();
        this.view = null;
        this.showLogin("The phone bar server went away; log in again once it is back.");
        this.banner("Phone bar server unreachable; reconnecting\u2026");
        const delay = Math.min(10000, 250 * 2 ** this.retry++);
        setTimeout(() => { if (!this.closed) this.open(); }, delay);
      });
    }

    send(frame) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    }

    request(frame) {
      const id = this.nextId++;
      return new Promise((resolve) => {
        this.waiting.set(id, resolve);
        this.send({ ...frame, id });
      });
    }

    receive(text) {
      let frame;
      try { frame = JSON.parse(text); } catch { return; }
      switch (frame.type) {
        case "hello": this.hello = frame; this.drawChart(); this.drawCommands(); this.drawWorld(); break;
        case "view": this.view = frame; this.draw(); break;
        case "event": this.event(frame.name, frame.payload); break;
        case "result": {
          const done = this.waiting.get(frame.id);
          this.waiting.delete(frame.id);
          if (!frame.ok) this.say(`${frame.error}: ${frame.message}`);
          if (done) done(frame);
          break;
        }
        case "error": this.say(frame.message); break;
        case "logged_out": this.view = null; this.showLogin(frame.message); break;
        default: break;
      }
    }

    event(name, payload) {
      this.dispatchEvent(new CustomEvent(name, { detail: payload, bubbles: true, composed: true }));
      const log = this.$(".log");
      log.prepend(el("li", { text: `${new Date().toLocaleTimeString()}  ${name}` }));
      while (log.children.length > MAX_LOG) log.lastChild.remove();
    }

    // --- building the skeleton -------------------------------------------------------------
    $(selector) { return this.root.querySelector(selector); }

    build() {
      const css = el("link", { rel: "stylesheet", href: new URL("/static/bar.css", this.getAttribute("server") || HOME.origin).href });
      const login = el("form", { class: "login", "aria-label": "Log in to the phone bar", novalidate: true },
        el("label", {}, "Agent ", el("input", { name: "user", autocomplete: "username", required: true, value: this.getAttribute("user") || "" })),
        el("label", {}, "Password ", el("input", { name: "password", type: "password", autocomplete: "off", required: true })),
        el("button", { type: "submit", text: "Log in" }),
        el("p", { class: "login-message", role: "alert" }));
      login.addEventListener("submit", (e) => {
        e.preventDefault();
        const user = login.elements.user.value.trim();
        const pw = login.elements.password;
        if (!user || !pw.value) { this.$(".login-message").textContent = "Enter the agent and the password."; return; }
        this.login(user, pw.value);
        pw.value = ""; // not kept by the page
        this.$(".login-message").textContent = "Logging in\u2026";
      });
      const main = el("section", { class: "main", hidden: true, "aria-label": "Phone bar" },
        el("header", {},
          el("span", { class: "who" }),
          el("span", { class: "state", role: "status", "aria-live": "polite", "aria-label": "State" }),
          el("span", { class: "timer", role: "timer", "aria-label": "Time in this state" }),
          el("span", { class: "countdown", role: "timer", hidden: true }),
          el("span", { class: "next", hidden: true })),
        el("div", { class: "toast", role: "alert", hidden: true }),
        el("div", { class: "call", "aria-label": "Current call" }),
        el("div", { class: "commands", role: "toolbar", "aria-label": "Commands" }),
        el("form", { class: "args", hidden: true, novalidate: true }),
        el("p", { class: "message", role: "alert" }),
        el("div", { class: "lower" },
          el("div", { class: "left" },
            el("div", { class: "dialpad", role: "group", "aria-label": "Dial pad (sends DTMF)", hidden: true }),
            el("section", { class: "team", hidden: true, "aria-label": "Supervisor: team" },
              el("h2", { text: "Team" }),
              el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Agent" }), el("th", { text: "State" }), el("th", { text: "Actions" }))), el("tbody"))),
            el("section", { class: "world", hidden: true, "aria-label": "World (demo simulator)" }),
            el("details", { class: "events" }, el("summary", { text: "Events" }), el("ol", { class: "log" }))),
          el("details", { class: "chart", open: true }, el("summary", { text: "State chart" }), el("div", { class: "drawing", role: "img", "aria-label": "The agent's state chart, the current state highlighted" }))));
      this.root.append(css,
        el("div", { class: "bar" }, el("div", { class: "banner", role: "alert", hidden: true }), login, main));
    }

    showLogin(message) {
      this.$(".main").hidden = true;
      this.$(".login").hidden = false;
      this.$(".login-message").textContent = message || "";
      this.removeAttribute("data-state");
    }

    banner(text) {
      const b = this.$(".banner");
      b.hidden = !text;
      b.textContent = text || "";
    }

    say(text) { this.$(".message").textContent = text || ""; }

    // --- the commands, from the chart --------------------------------------------------------
    commandButton(spec, args, extraLabel) {
      return el("button", {
        type: "button",
        "data-command": spec.name,
        title: spec.description || label(spec.name),
        "aria-label": extraLabel || label(spec.name),
        text: label(spec.name),
        onclick: (e) => this.clicked(spec, args, e.currentTarget),
      });
    }

    drawCommands() {
      const bar = this.$(".commands");
      bar.replaceChildren();
      const skip = new Set(this.hello.unsupported || []);
      for (const spec of this.hello.commands) {
        if (skip.has(spec.name) || !spec.self) continue;
        bar.append(this.commandButton(spec, null));
      }
      const pad = this.$(".dialpad");
      pad.replaceChildren();
      const dtmf = this.hello.commands.find((c) => c.args.some((a) => a.name === "digits"));
      if (dtmf) {
        for (const key of DIAL_KEYS) {
          pad.append(el("button", {
            type: "button", "data-command": dtmf.name, "data-key": key, "aria-label": `Send DTMF ${key}`, text: key,
            onclick: () => this.send_(dtmf.name, { digits: key }),
          }));
        }
        pad.addEventListener("keydown", (e) => {
          const b = pad.querySelector(`button[data-key="${CSS.escape(e.key)}"]`);
          if (b && !b.disabled) { e.preventDefault(); b.click(); }
        });
      }
    }

    send_(name, args) { this.say(""); return this.command(name, args); }

    clicked(spec, fixed, button) {
      const open = spec.args.filter((a) => !(fixed && a.name in fixed));
      if (fixed || open.length === 0) { this.send_(spec.name, fixed || {}); return; }
      this.openForm(spec, button);
    }

    openForm(spec, button) {
      const form = this.$(".args");
      form.replaceChildren();
      form.setAttribute("aria-label", `${label(spec.name)}: arguments`);
      form.dataset.for = spec.name;
      const choices = (this.view && this.view.choices) || {};
      const fields = [];
      for (const arg of spec.args) {
        const id = `arg-${spec.name}-${arg.name}`;
        const fixed = arg.values && arg.values.length ? arg.values : null;
        const text = el("input", { id, name: arg.name, "data-arg": arg.name, "aria-required": arg.required ? "true" : false, placeholder: arg.choices ? "or type" : arg.type, hidden: !!fixed });
        let pick = null;
        // the chart's own values first (a closed list), else the server's choices for it
        const options = fixed ? fixed.map((v) => ({ id: String(v), name: String(v) }))
          : arg.choices ? choices[arg.choices] || [] : [];
        if (options.length) {
          pick = el("select", { "data-pick": arg.name, "aria-label": `${arg.name}: pick`, multiple: arg.type === "list" });
          if (arg.type !== "list") pick.append(el("option", { value: "", text: "\u2014" }));
          for (const o of options) pick.append(el("option", { value: o.id, text: o.name && o.name !== o.id ? `${o.name} (${o.id})` : o.id }));
        }
        fields.push([arg, text, pick]);
        form.append(el("label", { for: id, text: `${arg.name}${arg.required ? "" : " (optional)"}` }), pick, text);
      }
      const cancel = () => { form.hidden = true; form.replaceChildren(); button.focus(); };
      form.append(
        el("button", { type: "submit", "data-send": spec.name, text: `${label(spec.name)}` }),
        el("button", { type: "button", text: "Cancel", onclick: cancel }));
      form.onsubmit = (e) => {
        e.preventDefault();
        const args = {};
        for (const [arg, text, pick] of fields) {
          let value = text.value.trim();
          if (!value && pick) value = Array.from(pick.selectedOptions).map((o) => o.value).filter(Boolean).join(",");
          if (value) args[arg.name] = arg.type === "number" ? Number(value) : value;
          else if (arg.required) { this.say(`${label(spec.name)} needs ${arg.name}.`); (pick || text).focus(); return; }
        }
        form.hidden = true;
        form.replaceChildren();
        this.send_(spec.name, args);
        button.focus();
      };
      form.onkeydown = (e) => { if (e.key === "Escape") { e.preventDefault(); cancel(); } };
      form.hidden = false;
      const first = form.querySelector("select, input");
      if (first) first.focus();
    }

    // --- drawing a view --------------------------------------------------------------------
    draw() {
      const v = this.view;
      this.$(".login").hidden = true;
      this.$(".main").hidden = false;
      this.setAttribute("data-state", v.state);
      this.stateStart = performance.now() - v.elapsed * 1000;
      this.$(".who").textContent = `${v.user}${v.rights.length ? ` (${v.rights.join(", ")})` : ""}`;
      const st = this.$(".state");
      st.textContent = v.state.split(".").pop().replace(/_/g, " ");
      st.title = v.state;
      st.dataset.state = v.state;
      if (v.link === "down") this.banner("Link to the CTI server is down; reconnecting\u2026");
      else if (this.ws && this.ws.readyState === WebSocket.OPEN) this.banner(null);

      const own = new Set(v.enabled.self), aimed = new Set(v.enabled.team);
      const rights = new Set(v.rights);
      const has = (needed) => needed.every((r) => rights.has(r));
      for (const spec of this.hello.commands) {
        for (const b of this.root.querySelectorAll(`.commands button[data-command="${spec.name}"], .dialpad button[data-command="${spec.name}"]`)) {
          b.hidden = !has(spec.rights) && !own.has(spec.name);
          b.disabled = !own.has(spec.name);
        }
      }
      const form = this.$(".args");
      if (!form.hidden && !own.has(form.dataset.for)) { form.hidden = true; form.replaceChildren(); }
      this.$(".dialpad").hidden = !this.hello.commands.some((c) => own.has(c.name) && c.args.some((a) => a.name === "digits"));

      // a countdown a notification started (a wrap-up's seconds), and the next state
      this.countdownEnd = v.countdown ? performance.now() + v.countdown.remaining * 1000 : null;
      const cd = this.$(".countdown");
      cd.hidden = !v.countdown;
      if (v.countdown) cd.setAttribute("aria-label", `${v.countdown.name}: time left`);
      const next = this.$(".next");
      next.hidden = !v.next;
      next.textContent = v.next ? `next: ${v.next.next}${v.next.reason ? ` (${v.next.reason})` : ""}` : "";
      this.drawCall(v);
      this.drawTeam(v, aimed, has);
      this.highlight(v.state);
      this.tick();
    }

    drawCall(v) {
      const call = v.call;
      const toast = this.$(".toast");
      toast.hidden = !v.ringing;
      if (v.ringing && call) {
        toast.replaceChildren(
          el("strong", { text: "Incoming call" }),
          el("span", { class: "caller", text: call.phone_number || "unknown caller" }),
          el("span", { class: "group", text: `group ${call.area || "\u2014"}` }),
          el("span", { class: "ring-timer", role: "timer", "aria-label": "Ringing for" }));
      }
      const parts = call ? [`Call ${call.call_id || ""}`.trim(), call.phone_number, call.target && `\u2192 ${call.target}`] : [];
      this.$(".call").textContent = parts.filter(Boolean).join("  ");
    }

    drawTeam(v, aimed, has) {
      const specs = this.hello.commands.filter((c) => c.team && has(c.team_rights));
      const section = this.$(".team");
      section.hidden = specs.length === 0;
      if (section.hidden) return;
      const body = section.querySelector("tbody");
      body.replaceChildren();
      for (const m of v.team) {
        const actions = el("td", { role: "group", "aria-label": `Actions on agent ${m.id}` });
        for (const spec of specs) {
          const b = this.commandButton(spec, { agent_id: m.id }, `${label(spec.name)}: agent ${m.id}`);
          b.dataset.agent = m.id;
          b.disabled = !aimed.has(spec.name);
          actions.append(b);
        }
        body.append(el("tr", { "data-agent": m.id },
          el("th", { scope: "row", text: m.id }),
          el("td", { text: m.state + (m.reason ? ` (${m.reason})` : "") }), actions));
      }
    }

    tick() {
      if (!this.view) return;
      const t = clock((performance.now() - this.stateStart) / 1000);
      this.$(".timer").textContent = t;
      const ring = this.$(".ring-timer");
      if (ring && this.view.ringing) ring.textContent = `ringing ${t}`;
      if (this.countdownEnd !== null && this.view.countdown) {
        const left = Math.max(0, (this.countdownEnd - performance.now()) / 1000);
        this.$(".countdown").textContent = `${this.view.countdown.name.replace(/^on/, "")} ${clock(Math.ceil(left))} left`;
      }
    }

    // --- the chart -------------------------------------------------------------------------
    drawChart() {
      const box = this.$(".drawing");
      box.replaceChildren();
      if (this.hello.svg) {
        const doc = new DOMParser().parseFromString(this.hello.svg, "image/svg+xml");
        const svg = doc.documentElement;
        if (svg.nodeName.toLowerCase() === "svg") {
          for (const bad of svg.querySelectorAll("script, foreignObject")) bad.remove();
          box.append(document.importNode(svg, true));
          return;
        }
      }
      box.append(el("pre", { class: "mermaid-text", text: this.hello.mermaid }));
    }

    highlight(state) {
      const box = this.$(".drawing");
      for (const g of box.querySelectorAll(".current, .active")) g.classList.remove("current", "active");
      const parts = state.split(".");
      const ancestors = new Set(parts.slice(0, -1).map((_, i) => `cluster_${parts.slice(0, i + 1).join(".")}`));
      for (const g of box.querySelectorAll("g.node, g.cluster")) {
        const title = g.querySelector(":scope > title");
        if (!title) continue;
        if (title.textContent === state) g.classList.add("current");
        else if (ancestors.has(title.textContent)) g.classList.add("active");
      }
    }

    // --- the demo's world ---------------------------------------------------------------------
    drawWorld() {
      const section = this.$(".world");
      const actions = this.hello.world;
      section.hidden = !actions;
      section.replaceChildren();
      if (!actions) return;
      section.append(el("h2", { text: "World (simulator)" }));
      const defaults = { group: "sales", caller: "+442079460001" };
      for (const a of actions) {
        const inputs = a.args.map((name) => el("input", { "data-world-arg": name, "aria-label": `${a.label}: ${name}`, value: defaults[name] || "" }));
        const go = el("button", {
          type: "button", "data-world": a.name, text: a.label,
          onclick: () => {
            const args = {};
            a.args.forEach((name, i) => { args[name] = inputs[i].value.trim(); });
            this.request({ type: "world", action: a.name, args });
          },
        });
        section.append(el("div", { class: "world-action" }, go, ...inputs));
      }
    }
  }

  customElements.define("cti-phone-bar", CtiPhoneBar);
})();
