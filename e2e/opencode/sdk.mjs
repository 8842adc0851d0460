// Drives a running `mcplink serve` with opencode's official SDK
// (@opencode-ai/sdk, client.mcp.*) and checks every answer against the
// SDK's types (dist/gen/types.gen.d.ts of 1.19.3). Run by e2e/opencode_test.go.
//
// Environment: MCPLINK_URL (the API), MCP_URL (an OAuth-protected MCP
// server, configured as "secure"; "off" is disabled, "nooauth" has
// "oauth": false), CALLBACK_PORT (the OAuth callback port of "secure").
// The authorization server approves at once: its /authorize redirects
// straight to the callback with a code.
//
// Prints one line per step on stdout; exits 1 with the reason on stderr at
// the first mismatch.
import { createOpencodeClient } from "@opencode-ai/sdk";
import assert from "node:assert/strict";

const base = process.env.MCPLINK_URL;
const mcpURL = process.env.MCP_URL;
const callbackPort = process.env.CALLBACK_PORT;
if (!base || !mcpURL || !callbackPort) {
  console.error("sdk.mjs: set MCPLINK_URL, MCP_URL and CALLBACK_PORT");
  process.exit(2);
}
const client = createOpencodeClient({ baseUrl: base });
const FIVE = ["connected", "disabled", "failed", "needs_auth", "needs_client_registration"];

function step(name, detail) {
  console.log("ok " + name + (detail === undefined ? "" : " " + JSON.stringify(detail)));
}

// checkStatus: McpStatus = {status: one of five} with error (a non-empty
// string) required for failed and needs_client_registration.
function checkStatus(v, where) {
  assert.equal(typeof v, "object", where + ": not an object");
  assert.ok(FIVE.includes(v.status), `${where}: status ${JSON.stringify(v.status)} is not one of opencode's five`);
  if (v.status === "failed" || v.status === "needs_client_registration") {
    assert.equal(typeof v.error, "string", `${where}: ${v.status} without error`);
    assert.ok(v.error.length > 0, `${where}: empty error`);
  }
}

function checkMap(m, names, where) {
  assert.equal(typeof m, "object", where + ": not an object");
  assert.deepEqual(Object.keys(m).sort(), [...names].sort(), where + ": servers");
  for (const [k, v] of Object.entries(m)) checkStatus(v, `${where}[${k}]`);
}

// ok returns data of a 2xx result.
function ok(r, where) {
  assert.ok(r.response, where + ": no response");
  assert.equal(r.error, undefined, `${where}: error ${JSON.stringify(r.error)} (HTTP ${r.response.status})`);
  assert.equal(r.response.status, 200, where + ": HTTP status");
  return r.data;
}

// failed checks an error result: HTTP status and opencode's error shape.
function failed(r, status, name, where) {
  assert.equal(r.response.status, status, `${where}: HTTP status (body ${JSON.stringify(r.error)})`);
  assert.equal(r.data, undefined, where + ": data on an error");
  assert.equal(r.error.name, name, where + ": error name");
  assert.equal(typeof r.error.data?.message, "string", where + ": data.message");
  assert.ok(r.error.data.message.length > 0, where + ": empty data.message");
  return r.error;
}

async function statusOf(name) {
  const m = ok(await client.mcp.status(), "status");
  checkStatus(m[name], "status " + name);
  return m[name];
}

// codeFor plays the browser: it loads the authorization URL without
// following the redirect and returns the code the authorization server
// sends to the callback (which is never called: mcp.auth.callback delivers it).
async function codeFor(authorizationUrl) {
  const resp = await fetch(authorizationUrl, { redirect: "manual" });
  assert.ok(resp.status >= 300 && resp.status < 400, `authorize answered ${resp.status}, not a redirect`);
  const loc = new URL(resp.headers.get("location"), authorizationUrl);
  assert.equal(loc.port, String(callbackPort), "redirect to the callback port: " + loc);
  const code = loc.searchParams.get("code");
  assert.ok(code, "no code in the redirect: " + loc);
  return code;
}

const names = ["secure", "off", "nooauth"];

// mcp.status
let m = ok(await client.mcp.status(), "mcp.status");
checkMap(m, names, "mcp.status");
assert.equal(m.secure.status, "needs_auth");
assert.equal(m.off.status, "disabled");
step("mcp.status", m.secure.status);

// mcp.add: a bad config is a BadRequest; a good one is written, connected
// and answered with the status of every server.
let r = await client.mcp.add({ body: { name: "bad", config: { type: "remote" } } });
failed(r, 400, "BadRequest", "mcp.add without url");
r = await client.mcp.add({ body: { name: "bad", config: { type: "remote", url: "ftp://example.com/mcp" } } });
failed(r, 400, "BadRequest", "mcp.add with an ftp url");
// (callbackPort is mcplink's field beside opencode's clientId/clientSecret/scope:
// a free port instead of the default 19876.)
m = ok(await client.mcp.add({ body: { name: "added", config: { type: "remote", url: mcpURL, oauth: { callbackPort: Number(callbackPort) }, timeout: 10000 } } }), "mcp.add");
checkMap(m, [...names, "added"], "mcp.add");
assert.equal(m.added.status, "needs_auth", "added server before sign-in");
m = ok(await client.mcp.status(), "mcp.status after add");
checkMap(m, [...names, "added"], "mcp.status after add");
step("mcp.add", m.added.status);

// mcp.auth.start, then mcp.auth.callback with {code} alone.
const start = ok(await client.mcp.auth.start({ path: { name: "secure" } }), "mcp.auth.start");
assert.equal(typeof start.authorizationUrl, "string");
assert.ok(new URL(start.authorizationUrl).searchParams.get("state"), "authorizationUrl without state");
step("mcp.auth.start");
const code = await codeFor(start.authorizationUrl);
let st = ok(await client.mcp.auth.callback({ path: { name: "secure" }, body: { code } }), "mcp.auth.callback");
checkStatus(st, "mcp.auth.callback");
assert.equal(st.status, "connected", "after the callback");
assert.equal((await statusOf("secure")).status, "connected");
step("mcp.auth.callback", st.status);
// The same code again: no pending flow any more.
failed(await client.mcp.auth.callback({ path: { name: "secure" }, body: { code } }), 400, "BadRequest", "mcp.auth.callback replayed");

// mcp.auth.authenticate: mcplink opens the "browser" ($BROWSER follows the
// URL) and answers once signed in.
st = ok(await client.mcp.auth.authenticate({ path: { name: "added" } }), "mcp.auth.authenticate");
checkStatus(st, "mcp.auth.authenticate");
assert.equal(st.status, "connected", "after authenticate");
step("mcp.auth.authenticate", st.status);

// mcp.disconnect and mcp.connect answer true; a disconnected server is disabled.
assert.equal(ok(await client.mcp.disconnect({ path: { name: "secure" } }), "mcp.disconnect"), true);
assert.equal((await statusOf("secure")).status, "disabled");
step("mcp.disconnect");
assert.equal(ok(await client.mcp.connect({ path: { name: "secure" } }), "mcp.connect"), true);
assert.equal((await statusOf("secure")).status, "connected");
step("mcp.connect");

// mcp.auth.remove: {success: true}; the server then needs a sign-in.
const rm = ok(await client.mcp.auth.remove({ path: { name: "secure" } }), "mcp.auth.remove");
assert.equal(rm.success, true);
assert.equal((await statusOf("secure")).status, "disabled", "logged out (and disconnected)");
assert.equal(ok(await client.mcp.connect({ path: { name: "secure" } }), "mcp.connect after remove"), true);
assert.equal((await statusOf("secure")).status, "needs_auth", "connect after logout");
step("mcp.auth.remove");

// Errors in opencode's shapes.
failed(await client.mcp.connect({ path: { name: "nope" } }), 404, "NotFoundError", "mcp.connect unknown");
failed(await client.mcp.disconnect({ path: { name: "nope" } }), 404, "NotFoundError", "mcp.disconnect unknown");
failed(await client.mcp.auth.start({ path: { name: "nope" } }), 404, "NotFoundError", "mcp.auth.start unknown");
failed(await client.mcp.auth.authenticate({ path: { name: "nope" } }), 404, "NotFoundError", "mcp.auth.authenticate unknown");
failed(await client.mcp.auth.callback({ path: { name: "nope" }, body: { code: "x" } }), 404, "NotFoundError", "mcp.auth.callback unknown");
failed(await client.mcp.auth.remove({ path: { name: "nope" } }), 404, "NotFoundError", "mcp.auth.remove unknown");
failed(await client.mcp.auth.start({ path: { name: "nooauth" } }), 400, "BadRequest", "mcp.auth.start without OAuth");
failed(await client.mcp.auth.callback({ path: { name: "secure" }, body: { code: "x" } }), 400, "BadRequest", "mcp.auth.callback without a pending flow");
// throwOnError: the SDK's error interceptor words data.message.
await assert.rejects(client.mcp.auth.start({ path: { name: "nope" }, throwOnError: true }), (e) => {
  assert.match(e.message, /unknown server "nope"/);
  return true;
});
step("errors");

// A client bound to a directory sends ?directory= (GET) and
// x-opencode-directory (POST); mcplink serves its own configuration anyway.
const dirClient = createOpencodeClient({ baseUrl: base, directory: process.cwd() });
checkMap(ok(await dirClient.mcp.status(), "mcp.status with directory"), [...names, "added"], "mcp.status with directory");
assert.equal(ok(await dirClient.mcp.disconnect({ path: { name: "added" } }), "mcp.disconnect with directory"), true);
step("directory");

m = ok(await client.mcp.status(), "mcp.status at the end");
checkMap(m, [...names, "added"], "mcp.status at the end");
console.log("done " + JSON.stringify(m));
