package authstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mcplink/mcplink/authstore"
)

// Read and write the credentials mcplink keeps per server name. Every write
// is an Update: a read-modify-write under the store's lock that re-reads the
// stored entry first, so concurrent processes (a CLI sign-in, a proxy
// refreshing) never overwrite each other's newer tokens.
func Example() {
	dir, err := os.MkdirTemp("", "authstore-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// mcplink's own store: authstore.Open(authstore.OpenOptions{Mode:
	// os.Getenv(authstore.EnvCredentialsStore), Dir: authstore.DefaultDir(os.Getenv, home)}),
	// the system keyring or the 0600 file. Here, a file in a temporary directory.
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}

	// Store a pre-registered client and a token for the server "jira".
	err = store.Update(ctx, "jira", func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil {
			cur = &authstore.Credentials{ServerURL: "https://jira.example.com/mcp"}
		}
		cur.Client = &authstore.Client{ClientID: "my-client"}
		cur.Token = &authstore.Token{AccessToken: "at-1", RefreshToken: "rt-1", TokenType: "Bearer",
			Expiry: time.Now().Add(time.Hour)}
		return cur, nil
	})
	if err != nil {
		log.Fatal(err)
	}

	c, err := store.Load(ctx, "jira")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Client.ClientID, c.ForURL("https://jira.example.com/mcp"), c.ForURL("https://jira.example.com/other"))

	// Drop the token, keep the client registration (what logout does).
	err = store.Update(ctx, "jira", func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		cur.Token = nil
		return cur, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	all, err := store.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(all), all["jira"].Token == nil)

	// Delete removes everything stored for the name.
	if err := store.Delete(ctx, "jira"); err != nil {
		log.Fatal(err)
	}
	_, err = store.Load(ctx, "jira")
	fmt.Println(errors.Is(err, authstore.ErrNotFound))
	// Output:
	// my-client true false
	// 1 true
	// true
}
