// Package e2e holds mcplink's end-to-end tests against a real identity
// provider in a real browser, all on 127.0.0.1:
//
//   - the oidc-provider npm package (e2e/idp/server.mjs, run with Node) with an
//     interactive login and consent page, dynamic registration, PKCE, resource
//     indicators issuing JWT access tokens, rotating refresh tokens,
//     revocation, introspection, DPoP and the device authorization grant;
//   - a go-sdk MCP server that validates those JWTs (signature from the
//     provider's JWKS, issuer, audience = its resource, expiry; optionally
//     DPoP proofs) and answers 401 with an RFC 9728 resource_metadata
//     challenge;
//   - headless Chromium driven with chromedp, playing the user;
//   - the real mcplink binary, built once by TestMain;
//   - opencode's official SDK (@opencode-ai/sdk from npm, e2e/opencode/sdk.mjs
//     run with Node) driving `mcplink serve` (opencode_test.go).
//
// Run e2e/idp/install.sh and e2e/opencode/install.sh first (make test does).
// Without Node, the installed provider or SDK, or Chromium the tests skip with the reason, unless CI is set, where
// they fail.
package e2e
