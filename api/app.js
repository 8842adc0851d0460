// mcplink status page: buttons call the JSON API; /events keeps the table current.
"use strict";
(function () {
  const log = document.getElementById("log");
  function say(msg) {
    const line = document.createElement("div");
    line.textContent = new Date().toLocaleTimeString() + "  " + msg;
    log.prepend(line);
  }
  function row(name) {
    for (const tr of document.querySelectorAll("tr[data-server]")) {
      if (tr.dataset.server === name) return tr;
    }
    return null;
  }
  function show(st) {
    const tr = row(st.name);
    if (!tr) return;
    // state is mcplink's own status; status is opencode's coarser one.
    const state = st.state || st.status;
    tr.querySelector("[data-role=dot]").className = "dot " + state;
    tr.querySelector("[data-role=status]").textContent = state;
    tr.querySelector("[data-role=error]").textContent = st.error || "";
    tr.querySelector("[data-role=tools]").textContent = (st.tools || []).length;
    if (st.auth) tr.querySelector("[data-role=auth]").textContent = st.auth.state.replace(/_/g, " ");
  }
  async function call(method, path) {
    const resp = await fetch(path, { method: method, headers: { "Accept": "application/json" } });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error((body.error && body.error.message) || resp.statusText);
    return body;
  }
  async function authenticate(name) {
    // Open the window during the click so popup blockers allow it.
    const win = window.open("about:blank", "_blank");
    try {
      const start = await call("POST", "/mcp/" + encodeURIComponent(name) + "/auth");
      if (win) {
        win.opener = null;
        win.location.href = start.authorizationUrl;
        say(name + ": sign in in the new window");
      } else {
        say(name + ": the browser blocked the sign-in window; open " + start.authorizationUrl);
      }
    } catch (e) {
      if (win) win.close();
      say(name + ": " + e.message);
    }
  }
  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const name = b.dataset.name, path = "/mcp/" + encodeURIComponent(name);
    try {
      switch (b.dataset.action) {
        case "authenticate": await authenticate(name); break;
        case "logout": { const r = await call("DELETE", path + "/auth"); show(r); say(name + ": " + ((r.logout && r.logout.message) || "logged out")); break; }
        case "connect": await call("POST", path + "/connect"); show(await call("GET", path)); break;
      }
    } catch (e) {
      say(name + ": " + e.message);
    }
  });
  const es = new EventSource("/events");
  for (const t of ["status", "tools"]) {
    es.addEventListener(t, (m) => { const ev = JSON.parse(m.data); if (ev.status) show(ev.status); });
  }
  es.addEventListener("flow", (m) => {
    const ev = JSON.parse(m.data);
    if (ev.flow && ev.flow.message) say(ev.server + ": " + ev.flow.message);
  });
})();
