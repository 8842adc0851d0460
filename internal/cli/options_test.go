package cli

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// These tests use the runF hook of NewCmdX: they parse real command lines
// through the real cobra commands (flags, argument checks, the usage
// errors raised before any work) and look at the Options the command would
// run with, without running it. What the commands then do is tested by the
// testscripts and the end-to-end tests.

// optionsFactory is a Factory that reaches nothing of the user's: no
// environment, no directories, no browser.
func optionsFactory() *Factory {
	return &Factory{IO: &IOStreams{In: &bytes.Buffer{}, Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Getenv: func(string) string { return "" }}
}

// parse runs cmd with args, as the root command would.
func parse(t *testing.T, cmd *cobra.Command, args ...string) error {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cmd.ExecuteContext(ctx)
}

func wantUsage(t *testing.T, err error, ran bool) {
	t.Helper()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitConfig {
		t.Fatalf("want a usage error (exit %d), got %v", ExitConfig, err)
	}
	if ran {
		t.Fatal("the command ran after a usage error")
	}
}

func TestAddOptions(t *testing.T) {
	var got *AddOptions
	runF := func(_ context.Context, o *AddOptions) error { got = o; return nil }

	// Everything after -- is the local server's command, its flags
	// included; mcplink's own flags before it are parsed.
	err := parse(t, NewCmdAdd(optionsFactory(), runF), "fs", "--env", "ROOT=/tmp", "--env", "B=2", "--timeout", "10s", "--disabled",
		"--", "npx", "-y", "server", "--port", "3")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "fs" || !slices.Equal(got.Command, []string{"npx", "-y", "server", "--port", "3"}) ||
		!slices.Equal(got.Env, []string{"ROOT=/tmp", "B=2"}) || got.Timeout != 10*time.Second || !got.Disabled || got.URL != "" {
		t.Fatalf("local add parsed as %+v", got)
	}

	got = nil
	err = parse(t, NewCmdAdd(optionsFactory(), runF), "api", "--url", "https://api.example.com/mcp",
		"--header", "X-A=1", "--header", "Authorization: Bearer {env:T}", "--no-oauth", "--global", "--force")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "api" || got.URL != "https://api.example.com/mcp" || len(got.Command) != 0 ||
		!slices.Equal(got.Headers, []string{"X-A=1", "Authorization: Bearer {env:T}"}) || !got.NoOAuth || !got.Global || !got.Force {
		t.Fatalf("remote add parsed as %+v", got)
	}

	// A command without --, or no name: refused before running.
	got = nil
	err = parse(t, NewCmdAdd(optionsFactory(), runF), "fs", "npx", "server")
	wantUsage(t, err, got != nil)
	err = parse(t, NewCmdAdd(optionsFactory(), runF))
	wantUsage(t, err, got != nil)
}

func TestAuthOptions(t *testing.T) {
	var got *AuthOptions
	runF := func(_ context.Context, o *AuthOptions) error { got = o; return nil }

	if err := parse(t, NewCmdAuth(optionsFactory(), runF), "jira", "--device", "--timeout", "2m"); err != nil {
		t.Fatal(err)
	}
	if got.Name != "jira" || !got.Device || got.All || got.NoBrowser || got.Timeout != 2*time.Minute {
		t.Fatalf("auth parsed as %+v", got)
	}
	got = nil
	if err := parse(t, NewCmdAuth(optionsFactory(), runF), "--all", "--no-browser"); err != nil {
		t.Fatal(err)
	}
	if got.Name != "" || !got.All || !got.NoBrowser || got.Timeout <= 0 {
		t.Fatalf("auth --all parsed as %+v", got)
	}
	got = nil
	err := parse(t, NewCmdAuth(optionsFactory(), runF), "--all", "jira")
	wantUsage(t, err, got != nil)
	err = parse(t, NewCmdAuth(optionsFactory(), runF), "a", "b")
	wantUsage(t, err, got != nil)
}

func TestLogoutOptions(t *testing.T) {
	var got *LogoutOptions
	runF := func(_ context.Context, o *LogoutOptions) error { got = o; return nil }

	if err := parse(t, NewCmdLogout(optionsFactory(), runF), "jira", "--local-only"); err != nil {
		t.Fatal(err)
	}
	if got.Name != "jira" || got.All || !got.LocalOnly {
		t.Fatalf("logout parsed as %+v", got)
	}
	got = nil
	if err := parse(t, NewCmdLogout(optionsFactory(), runF), "--all"); err != nil {
		t.Fatal(err)
	}
	if got.Name != "" || !got.All {
		t.Fatalf("logout --all parsed as %+v", got)
	}
	// Neither a name nor --all, or both: refused before anything is revoked.
	got = nil
	err := parse(t, NewCmdLogout(optionsFactory(), runF))
	wantUsage(t, err, got != nil)
	err = parse(t, NewCmdLogout(optionsFactory(), runF), "jira", "--all")
	wantUsage(t, err, got != nil)
}

func TestServeAndTUIOptions(t *testing.T) {
	var serve *ServeOptions
	err := parse(t, NewCmdServe(optionsFactory(), func(_ context.Context, o *ServeOptions) error { serve = o; return nil }),
		"--addr", "127.0.0.1:0", "--no-connect", "--no-browser", "--flow-timeout", "30s")
	if err != nil {
		t.Fatal(err)
	}
	if serve.Addr != "127.0.0.1:0" || !serve.NoConnect || !serve.NoBrowser || serve.FlowTimeout != 30*time.Second {
		t.Fatalf("serve parsed as %+v", serve)
	}

	var tui *TUIOptions
	err = parse(t, NewCmdTUI(optionsFactory(), func(_ context.Context, o *TUIOptions) error { tui = o; return nil }),
		"--timeout", "5s", "--no-browser")
	if err != nil {
		t.Fatal(err)
	}
	if tui.Timeout != 5*time.Second || !tui.NoBrowser {
		t.Fatalf("tui parsed as %+v", tui)
	}
}
