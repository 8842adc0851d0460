// Command op runs the Zitadel OIDC example OpenID provider
// (github.com/zitadel/oidc/v3/example/server: its exampleop login, device and
// OP handlers and its in-memory storage, unchanged) on a free loopback port,
// for mcplink's end-to-end tests (e2e/zitadel_test.go).
//
// It differs from the example's own main only where a test needs it to:
//
//   - it listens on 127.0.0.1, on a free port unless OP_PORT is set (a test
//     restarts it on its port, which loses every token, the storage being
//     in memory), and prints its issuer ("http://127.0.0.1:PORT/", the
//     example's shape, trailing slash included) as OP_ISSUER=... on stdout;
//   - it registers the clients a test needs (secrets from the environment):
//     a native public client for the browser sign-in, a device client, and a
//     confidential client for the MCP resource server to introspect with;
//   - the resource server's client may introspect the tokens of the other
//     clients, as an API in the same project may in Zitadel proper; the
//     example grants introspection only to a token's own client;
//   - a device authorization completes with the user's ID as the subject:
//     the example's device login passes the user name, which its own
//     userinfo and introspection then cannot find (so every device-flow
//     token introspected as inactive);
//   - it logs the grant type and resource indicators (RFC 8707; the OP
//     ignores them) of every token and device authorization request to
//     stderr, as "OP_REQUEST <path> grant_type=%q resource=%q", so that a
//     test can check what the client sent;
//   - with OP_WATCH_STDIN=1 it exits when its standard input ends, so it never
//     outlives the test that started it.
//
// Environment:
//
//	OP_NATIVE_CLIENT_ID       public native client (PKCE, refresh tokens)
//	OP_NATIVE_REDIRECT_URI    its loopback redirect URI; any port matches (RFC 8252 §7.3)
//	OP_DEVICE_CLIENT_ID       confidential device-grant client ...
//	OP_DEVICE_CLIENT_SECRET   ... and its secret
//	OP_INTROSPECTOR_ID        the resource server's confidential client ...
//	OP_INTROSPECTOR_SECRET    ... and its secret
//	OP_PORT                   the port to listen on (default: a free one)
//	OP_WATCH_STDIN            1: exit when stdin ends
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "zitadel op:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := map[string]string{}
	for _, k := range []string{"OP_NATIVE_CLIENT_ID", "OP_NATIVE_REDIRECT_URI", "OP_DEVICE_CLIENT_ID",
		"OP_DEVICE_CLIENT_SECRET", "OP_INTROSPECTOR_ID", "OP_INTROSPECTOR_SECRET"} {
		cfg[k] = os.Getenv(k)
		if cfg[k] == "" {
			return fmt.Errorf("%s is not set", k)
		}
	}

	port := os.Getenv("OP_PORT")
	if port == "" {
		port = "0"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return err
	}
	issuer := fmt.Sprintf("http://%s/", ln.Addr())

	storage.RegisterClients(
		storage.NativeClient(cfg["OP_NATIVE_CLIENT_ID"], cfg["OP_NATIVE_REDIRECT_URI"]),
		storage.DeviceClient(cfg["OP_DEVICE_CLIENT_ID"], cfg["OP_DEVICE_CLIENT_SECRET"]),
		// The resource server's client. Its one redirect URI leads nowhere
		// (without one, WebClient would allow http://localhost:9999/...),
		// so it can only authenticate itself: at the introspection endpoint.
		storage.WebClient(cfg["OP_INTROSPECTOR_ID"], cfg["OP_INTROSPECTOR_SECRET"], "https://invalid.example/"),
	)
	users := storage.NewUserStore(issuer)
	st := &projectStorage{
		Storage:      storage.NewStorage(users),
		users:        users,
		introspector: cfg["OP_INTROSPECTOR_ID"],
		project:      []string{cfg["OP_NATIVE_CLIENT_ID"], cfg["OP_DEVICE_CLIENT_ID"]},
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	router := exampleop.SetupServer(issuer, st, logger, false)

	srv := &http.Server{Handler: logRequests(router), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("OP_ISSUER=%s\n", issuer)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("OP_WATCH_STDIN") == "1" {
		go func() { // ends with the process
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// logRequests logs the grant type and resource indicators of the token and
// device authorization requests (never a code, token or secret).
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/oauth/token" || r.URL.Path == "/device_authorization") {
			// ParseForm is idempotent: the OP's handler finds the form parsed.
			if err := r.ParseForm(); err == nil {
				fmt.Fprintf(os.Stderr, "OP_REQUEST %s grant_type=%q resource=%q\n",
					r.URL.Path, r.PostForm.Get("grant_type"), strings.Join(r.PostForm["resource"], " "))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// projectStorage is the example's storage, except that the introspector
// client may introspect the tokens issued to the project's clients. (The
// example's SetIntrospectionFromToken answers active only to a client in the
// token's audience, which is the client the token was issued to.)
type projectStorage struct {
	*storage.Storage
	users        storage.UserStore
	introspector string
	project      []string
}

// CompleteDeviceAuthorization records the user's ID, not the user name the
// example's device login passes, as the subject of the device's tokens.
func (s *projectStorage) CompleteDeviceAuthorization(ctx context.Context, userCode, subject string) error {
	if u := s.users.GetUserByUsername(subject); u != nil {
		subject = u.ID
	}
	return s.Storage.CompleteDeviceAuthorization(ctx, userCode, subject)
}

func (s *projectStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	if clientID != s.introspector {
		return s.Storage.SetIntrospectionFromToken(ctx, resp, tokenID, subject, clientID)
	}
	for _, c := range s.project {
		if err := s.Storage.SetIntrospectionFromToken(ctx, resp, tokenID, subject, c); err == nil {
			return nil
		}
	}
	return errors.New("token is invalid, expired, or not issued to a client of this project")
}
