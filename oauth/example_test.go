package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/oauth"
)

// Give a go-sdk client mcplink's OAuth, with no config file: the engine
// registers a client, signs in with the browser on the first 401, stores the
// registration and tokens, and refreshes them. The authorization server and
// MCP server here are oauthtest's, on 127.0.0.1; oauthtest.FollowRedirects
// plays a browser that approves at once (a program would pass
// github.com/cli/browser's OpenURL, or print the URL).
func Example() {
	as, mcpURL, dir := startServers() // an OAuth-protected MCP server; a data directory
	defer as.Close()
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// The ten lines.
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir}) // or authstore.Open: the keyring
	if err != nil {
		log.Fatal(err)
	}
	callbacks := callback.New(callback.Options{}) // the loopback redirect listener
	defer callbacks.Close()
	eng := oauth.New(oauth.Options{Store: store, Callbacks: callbacks, OpenURL: oauthtest.FollowRedirects})
	server := oauth.Server("example", mcpURL) // the name keys what is stored
	server.OAuth.CallbackPort = freePort()    // default 19876
	t, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: server.URL, Handler: eng.InteractiveHandler(server)})
	if err != nil {
		log.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "my-app", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: server.URL, HTTPClient: t.Client()}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)

	// The next run finds the registration and tokens in the store.
	creds, err := store.Load(ctx, "example")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored for", creds.ServerURL == mcpURL, "client", creds.Client.Dynamic, "refresh token", creds.Token.RefreshToken != "")

	// An access token the server no longer accepts is refreshed on its 401,
	// and the call retried, with no sign-in.
	as.ExpireAccessTokens()
	if _, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "again"}}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshed", as.Stats().TokenRequests[oauthtest.GrantRefreshToken], "sign-ins", as.Stats().TokenRequests[oauthtest.GrantAuthorizationCode])
	// Output:
	// hello
	// stored for true client true refresh token true
	// refreshed 1 sign-ins 1
}

// Sign in with the device authorization grant (RFC 8628) instead of the
// browser: for a program on an SSH host, whose loopback callback a browser
// elsewhere cannot reach. OnDeviceCode shows the code; here oauthtest
// approves it as the user would on the verification page.
func ExampleEngine_InteractiveHandlerWith_device() {
	as, err := oauthtest.Start(oauthtest.Options{DeviceFlow: true})
	if err != nil {
		log.Fatal(err)
	}
	defer as.Close()
	dir, err := os.MkdirTemp("", "mcplink-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	eng := oauth.New(oauth.Options{Store: store}) // no browser, no callback listener
	server := oauth.Server("example", as.MCPURL)
	h := eng.InteractiveHandlerWith(server, oauth.AuthOptions{Device: true, OnDeviceCode: func(dc oauth.DeviceCode) {
		fmt.Println("code shown:", dc.UserCode != "" && dc.VerificationURI != "")
		as.ApproveDevice(dc.UserCode) // the user, on the verification page
	}})
	t, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: server.URL, Handler: h})
	if err != nil {
		log.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "my-app", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: server.URL, HTTPClient: t.Client()}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 2, "b": 3}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("2 + 3 =", res.Content[0].(*mcp.TextContent).Text)
	// Output:
	// code shown: true
	// 2 + 3 = 5
}

// Connect without ever starting a sign-in (a background service): the
// non-interactive Handler sends and refreshes stored tokens, and a server
// that needs a sign-in fails the request with an error matching
// ErrNeedsAuth, wrapped in a *AuthorizeError that carries the HTTP status.
// A surface then asks the user to sign in (Engine.Authenticate, or
// `mcplink auth NAME` for the same data directory and name).
func ExampleEngine_Handler() {
	as, mcpURL, dir := startServers()
	defer as.Close()
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	eng := oauth.New(oauth.Options{Store: store})
	server := oauth.Server("example", mcpURL)
	h, err := eng.Handler(server)
	if err != nil {
		log.Fatal(err)
	}
	t, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: server.URL, Handler: h})
	if err != nil {
		log.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "my-app", Version: "1.0.0"}, nil)
	_, err = client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: server.URL, HTTPClient: t.Client()}, nil)

	var ae *oauth.AuthorizeError
	fmt.Println("needs sign-in:", errors.Is(err, oauth.ErrNeedsAuth))
	fmt.Println("status:", errors.As(err, &ae) && ae.Status == 401)
	// Output:
	// needs sign-in: true
	// status: true
}

// startServers starts oauthtest's authorization server and protected MCP
// server on 127.0.0.1 and makes a temporary data directory.
func startServers() (as *oauthtest.Server, mcpURL, dir string) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	dir, err = os.MkdirTemp("", "mcplink-example-")
	if err != nil {
		log.Fatal(err)
	}
	return as, as.MCPURL, dir
}

// freePort returns a loopback port that was free a moment ago, so the
// example's callback listener does not meet another program's.
func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Build a server entry in code and change its OAuth settings: a
// pre-registered client and another callback port. Every field of
// config.OAuth works as its "oauth" key does in a config file.
func ExampleServer() {
	s := oauth.Server("jira", "https://jira.example.com/mcp")
	fmt.Println(oauth.RedirectURI(s))

	s.OAuth.ClientID = "pre-registered-id"
	s.OAuth.CallbackPort = 8765
	s.Headers = map[string]string{"X-Team": "core"} // sent to jira.example.com only
	fmt.Println(oauth.RedirectURI(s))
	// Output:
	// http://127.0.0.1:19876/mcp/oauth/callback
	// http://127.0.0.1:8765/mcp/oauth/callback
}
