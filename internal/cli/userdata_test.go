package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// TestChildProcessesLeaveTheUsersFilesAlone: with HOME, the XDG
// directories and MCPLINK_* pointing at a user's directory (a sentinel),
// as when `make test` runs in a real session, this package's child-process
// helpers — debugEnv and authEnv, whose mcplink commands sign in and store
// credentials with a client secret — write nothing there: everything lands
// in the test's own directories.
func TestChildProcessesLeaveTheUsersFilesAlone(t *testing.T) {
	check := testenv.Sentinel(t)
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })

	d := newDebugEnv(t, as.MCPURL)
	if out, stderr, err := d.run(t, "auth", "s0"); err != nil {
		t.Fatalf("auth: %v\n%s%s", err, out, stderr)
	}
	d.secrets(t) // stored in the helper's own data directory
	if out, stderr, err := d.run(t, "debug", "s0"); err != nil {
		t.Fatalf("debug: %v\n%s%s", err, out, stderr)
	}

	a := newAuthEnv(t, "follow-redirects", as.MCPURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := a.cmd(ctx, "auth", "s0").CombinedOutput(); err != nil {
		t.Fatalf("auth: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(a.dir, ".data", "mcplink", "credentials.json")); err != nil {
		t.Fatalf("authEnv's sign-in stored nothing in its own directory: %v", err)
	}
	check()
}
