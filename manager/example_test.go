package manager_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// Manage servers from a config built in code: the manager connects them and
// tracks each one's status; the OAuth engine is its OAuthProvider, whose
// handlers never start a sign-in — a server that needs one is needs_auth
// until the program signs in (here Engine.Authenticate; a UI would ask the
// user first) and connects it again.
func Example() {
	as, err := oauthtest.Start(oauthtest.Options{}) // AS + protected MCP server on 127.0.0.1
	if err != nil {
		log.Fatal(err)
	}
	defer as.Close()
	dir, err := os.MkdirTemp("", "manager-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	callbacks := callback.New(callback.Options{})
	defer callbacks.Close()
	eng := oauth.New(oauth.Options{Store: store, Callbacks: callbacks, OpenURL: oauthtest.FollowRedirects})

	jira := oauth.Server("jira", as.MCPURL)
	jira.OAuth.CallbackPort = examplePort()
	m := manager.New(&config.Config{Servers: map[string]*config.Entry{"jira": jira}}, manager.Options{OAuth: eng})
	defer m.Close()

	for _, st := range m.ConnectAll(ctx) {
		fmt.Println(st.Name, st.Status)
	}
	if _, err := eng.Authenticate(ctx, jira); err != nil {
		log.Fatal(err)
	}
	st, err := m.Connect(ctx, "jira")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Name, st.Status, len(st.Tools), "tools")

	_, err = m.CallTool(ctx, "nosuch", "echo", nil)
	fmt.Println(errors.Is(err, manager.ErrUnknownServer))
	// Output:
	// jira needs_auth
	// jira connected 3 tools
	// true
}

// examplePort returns a loopback port that was free a moment ago, for the
// sign-in's callback listener.
func examplePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
