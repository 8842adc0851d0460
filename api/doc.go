// Package api is mcplink's HTTP API: the JSON routes editors, agents and web
// UIs use to see server status, sign in with OAuth, connect, list and call
// tools and follow changes as Server-Sent Events, plus a small server-rendered
// status page at "/" and the OpenAPI 3.1 description at "/openapi.json".
//
// The routes opencode's SDK calls (@opencode-ai/sdk 1.19.3, client.mcp.*)
// answer in opencode's shapes, with mcplink's detail as extra fields; see
// opencode.go. Every error is {"name", "data": {"message"}, "error":
// {"code", "message"}}: opencode's shape (NotFoundError, BadRequest,
// UnknownError) and mcplink's stable code in one object.
//
// Routes:
//
//	GET    /mcp                          status of every server: {name: {status (opencode's five), state (mcplink's), error, …}}
//	POST   /mcp                          add a server {name, config} to the config file and connect it → {name: status}
//	GET    /mcp/{name}                   status of one server
//	POST   /mcp/{name}/connect           (re)connect → true
//	POST   /mcp/{name}/disconnect        disconnect → true
//	POST   /mcp/{name}/auth              start a flow → {authorizationUrl, state}
//	POST   /mcp/{name}/auth/callback     finish a flow with {code} (the newest pending flow), {code, state[, iss]} or {url} → status
//	POST   /mcp/{name}/auth/authenticate open the browser here and wait → status
//	POST   /mcp/{name}/auth/device       start a device sign-in (RFC 8628) → 202 {verificationUri, userCode, expiresAt}
//	DELETE /mcp/{name}/auth              cancel pending flows, revoke and delete the tokens (the client
//	                                     registration is kept), disconnect → {success: true, …status,
//	                                     logout: {revoked, revocationSupported, revocationError, …, message}}
//	GET    /mcp/{name}/tools             the server's tools
//	POST   /mcp/{name}/tools/{tool}      call a tool (the body is the arguments object)
//	GET    /events                       Server-Sent Events (status, tools, flow)
//
// The server is safe against hostile web pages and other users: it refuses
// Host headers other than the loopback names of its address (DNS rebinding),
// refuses cross-site browser requests (Origin, Sec-Fetch-Site) on every
// state-changing route, caps request bodies, sets server timeouts and, when a
// token is configured, requires it as a bearer token (or as the password of
// HTTP Basic authentication, for the status page in a browser). A token is
// mandatory when the address is not loopback.
//
// Authorization flows started through the API stay pending until the browser
// comes back to the loopback callback server (or the redirect is delivered to
// the callback route), until they expire (FlowTTL, default 5 minutes) or are
// cancelled; at most MaxPendingPerServer (default 100) are pending per server.
// A device sign-in (POST /mcp/{name}/auth/device) needs no redirect: the user
// enters the code on any device while the API polls the authorization server;
// it counts against the same limit and ends the same ways.
package api
