// Package oauth is mcplink's OAuth 2.1 flow engine for MCP servers: discovery
// (RFC 9728, RFC 8414, OpenID Connect), client identity (metadata documents,
// pre-registration, RFC 7591 registration, persisted), PKCE, RFC 8707 resource
// indicators, RFC 9207 issuer checks, step-up and refresh.
//
// Wiring (the CLI, the manager and the conformance adapter all do this; the
// entry comes from a config file, or from Server for a program without one;
// see the examples and docs/library.md):
//
//	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir})
//	if err != nil { ... }
//	callbacks := callback.New(callback.Options{})
//	defer callbacks.Close()
//	eng := oauth.New(oauth.Options{
//		Store:     store,
//		Callbacks: callbacks,
//		OpenURL:   func(ctx context.Context, u string) error { return browser.OpenURL(u) },
//		Notify:    func(server, msg string) { fmt.Fprintf(os.Stderr, "%s: %s\n", server, msg) },
//	})
//
//	// `mcplink auth NAME`: interactive, stores client + tokens.
//	creds, err := eng.Authenticate(ctx, entry)
//
//	// Connecting (manager.OAuthProvider): never opens a browser; a missing or
//	// rejected token yields an error matching oauth.ErrNeedsAuth, a missing
//	// client a *oauth.ClientRegistrationError. A 403 insufficient_scope is
//	// recorded with the credentials (RequiredScopes), so the next sign-in
//	// (Authenticate, Begin, the device grant) asks for those scopes too.
//	// Transport is the HTTP transport that carries the credentials: the
//	// token (and DPoP proof) only to the server's origin, one Authorize and
//	// retry on a 401/403, bounded bodies. go-sdk's transport gets its client
//	// and no OAuthHandler of its own.
//	h, err := eng.Handler(entry)
//	t, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: entry.URL, Headers: entry.Headers, Handler: h})
//	transport := &mcp.StreamableClientTransport{Endpoint: entry.URL, HTTPClient: t.Client()}
//
//	// Connecting with sign-in on demand (a 401 starts the browser flow, a
//	// 403 insufficient_scope a step-up; InteractiveHandlerWith for the
//	// device grant):
//	t, err = oauth.NewTransport(oauth.TransportOptions{ServerURL: entry.URL, Handler: eng.InteractiveHandler(entry)})
//
//	// HTTP API: start now, finish when the redirect arrives (or is delivered
//	// with callbacks.Deliver(p.State, params)).
//	p, err := eng.Begin(ctx, entry)
//	fmt.Println(p.AuthorizationURL)
//	creds, err = p.Wait(ctx)
//
//	// No browser here (SSH): paste the redirect URL (or code) on lines, racing
//	// the callback listener; or the device grant (RFC 8628):
//	creds, err = eng.AuthenticateWith(ctx, entry, oauth.AuthOptions{Paste: lines})
//	creds, err = eng.AuthenticateWith(ctx, entry, oauth.AuthOptions{Device: true})
//
//	// Logout revokes at the AS (RFC 7009), deletes the tokens, keeps the client:
//	res, err := eng.LogoutServer(ctx, entry.Name, oauth.LogoutOptions{Entry: entry})
//
//	// `mcplink debug`, `mcplink auth status`, `mcplink auth logout`:
//	d, err := eng.Discover(ctx, entry, func(s oauth.Step) { fmt.Printf("%s %s %d %s\n", s.Phase, s.URL, s.Status, s.Err) })
//	st, err := eng.Status(ctx, entry)
//	err = eng.Logout(ctx, entry.Name)
//
// Loop brakes (per server, in-process; loop.go): a token obtained moments ago
// that the server refuses again the same way is not refreshed or
// re-authorized (*FreshTokenRefusedError, FreshTokenWindow); at most
// MaxAttemptsPerWindow authorizations per AttemptWindow (ErrTooManyAttempts)
// and MaxRefreshesPerWindow refreshes after a 401 per RefreshWindow
// (ErrTooManyRefreshes). Each consecutive trip doubles the windows, up to
// MaxBrakeWindow; the server accepting a token we obtained resets them.
//
// Errors to branch on: ErrNeedsAuth (also *NeedsAuthError),
// *ClientRegistrationError, ErrTooManyAttempts, ErrTooManyRefreshes,
// ErrFreshTokenRefused (also *FreshTokenRefusedError), ErrNotProtected,
// ErrInsufficientScope, *MetadataMismatchError, *IssuerResponseError,
// *TokenError, *callback.PortInUseError, *callback.AuthorizationError.
package oauth
