// Package fix words the way out of a library error for the surface that
// shows it. The library packages (oauth, callback, manager, config) return typed
// errors that carry data — the server, its config file, the port — and say
// what went wrong in their own terms; the command line, the TUI, the HTTP
// API and `mcplink proxy` for a URL given on its command line each have
// their own fix (a command to run, a config setting, a flag), and this is
// the one place that builds each sentence.
package fix

import (
	"errors"
	"fmt"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// Surface is where an error is shown, which decides how its fix is worded.
type Surface int

const (
	// CLI is mcplink's commands, for a server from a config file.
	CLI Surface = iota
	// CLITimeout is CLI for a command whose --timeout bounds each
	// server's connect (list, tools, call, resources, prompts): the fix
	// for a *manager.TimeoutError names that flag too.
	CLITimeout
	// Proxy is `mcplink proxy` for a configured server: its MCP client
	// sees the error, and the proxy words sign-ins itself (proxy.Hints).
	Proxy
	// ProxyFlags is `mcplink proxy` for a URL on its command line: the
	// settings of its entry come from the proxy's flags, not a config file.
	ProxyFlags
	// TUI is `mcplink tui`.
	TUI
	// API is the HTTP API of `mcplink serve`.
	API
)

// Hint returns the fix for the first error in err's chain that has one on
// surface s, as a clause that starts in lower case, or "" when none is known.
func Hint(err error, s Surface) string {
	var h *hinted
	if err == nil || errors.As(err, &h) {
		return "" // Wrap added it already
	}
	var pe *callback.PortInUseError
	var le *callback.ListenError
	var ce *oauth.ClientRegistrationError
	var ne *oauth.NeedsAuthError
	var he *manager.HeaderRefusedError
	var fe *oauth.FreshTokenRefusedError
	var be *oauth.BrakeError
	var te *manager.TimeoutError
	var ue *config.UnknownServerError
	var ut *config.UntrustedError
	switch {
	case errors.As(err, &ut):
		// The same on every surface: they are all mcplink's, and trusting
		// is the user's decision at a terminal.
		return fmt.Sprintf(`review it, then run "mcplink trust" in %s`, ut.Dir)
	case errors.As(err, &ue):
		if len(ue.Known) == 0 {
			return "add one with `mcplink add`"
		}
		return ""
	case errors.As(err, &te):
		return timeoutHint(te, s)
	case errors.As(err, &pe):
		return portHint(pe, s)
	case errors.As(err, &le):
		return moveHint(le.Server, le.ConfigFile, s)
	case errors.As(err, &ce):
		return clientHint(ce, s)
	case s == Proxy || s == ProxyFlags:
		// The proxy's own messages say how to sign in again.
		return ""
	case errors.As(err, &he):
		if he.Authorization() && !he.OAuthDisabled {
			return fmt.Sprintf("run `mcplink auth %s`", he.Server)
		}
		return ""
	case errors.As(err, &ne):
		return fmt.Sprintf("run `mcplink auth %s`", ne.Server)
	case errors.As(err, &fe):
		return fmt.Sprintf("check the server's scope requirements with its admin, or run `mcplink debug %s`", fe.Server)
	case errors.As(err, &be):
		if be.Refresh {
			return fmt.Sprintf("check the server's configuration with its admin, or run `mcplink debug %s`", be.Server)
		}
		return fmt.Sprintf("check the server's scope requirements, or run `mcplink debug %s`", be.Server)
	}
	return ""
}

// Message is err's message followed by its fix on surface s, if any.
func Message(err error, s Surface) string {
	if err == nil {
		return ""
	}
	return join(err.Error(), Hint(err, s))
}

// State is a manager state's error message followed by the fix for the
// typed error behind it (State.Err), if any.
func State(st manager.State, s Surface) string {
	if st.Error == "" {
		return ""
	}
	return join(st.Error, Hint(st.Err, s))
}

// Wrap returns err with its fix on surface s added to its message (it
// still matches err with errors.Is and errors.As), or err itself when no
// fix is known.
func Wrap(err error, s Surface) error {
	h := Hint(err, s)
	if h == "" {
		return err
	}
	return &hinted{err: err, msg: join(err.Error(), h)}
}

type hinted struct {
	err error
	msg string
}

func (e *hinted) Error() string { return e.msg }
func (e *hinted) Unwrap() error { return e.err }

func join(msg, hint string) string {
	if hint == "" {
		return msg
	}
	return msg + ": " + hint
}

// entryName is how a fix names the config entry of server in file.
func entryName(server, file string) string {
	entry := "the MCP server entry"
	if server != "" {
		entry += fmt.Sprintf(" %q", server)
	}
	if file != "" {
		return entry + " in " + file
	}
	return entry + " in the mcplink config file"
}

const portFlags = "pass --callback-port with a free port (or --redirect-uri) to `mcplink proxy`"

// moveHint is how to move the callback to another port.
func moveHint(server, file string, s Surface) string {
	if s == ProxyFlags {
		return portFlags
	}
	return fmt.Sprintf("set \"oauth.callbackPort\" (or \"oauth.redirectUri\") on %s to use a different port", entryName(server, file))
}

func portHint(pe *callback.PortInUseError, s Surface) string {
	move := moveHint(pe.Server, pe.ConfigFile, s)
	if pe.OtherMcplink {
		return "wait for it to finish and retry, or " + move
	}
	return move
}

func clientHint(ce *oauth.ClientRegistrationError, s Surface) string {
	if s == ProxyFlags {
		return "register a client with the provider and pass it to `mcplink proxy` with --client-id (and --client-secret, if it has one)"
	}
	return fmt.Sprintf("register a client with the provider and add it to %s:\n  \"oauth\": {\"clientId\": \"<client id>\", \"clientSecret\": \"<client secret, if any>\"}", entryName(ce.Server, ce.ConfigFile))
}

// timeoutHint is how to give a server more time to answer. Only the
// commands with a connect --timeout name it; the TUI, the API and the
// proxy name the entry's "timeout" alone (the TUI's bound for every server
// comes from how it was started, which it cannot change).
func timeoutHint(te *manager.TimeoutError, s Surface) string {
	switch {
	case te.Override && s == CLITimeout:
		return "pass a longer --timeout"
	case te.Override:
		return fmt.Sprintf("this mcplink gives every server %v to answer, whatever its \"timeout\"", te.Timeout)
	case s == CLITimeout:
		return fmt.Sprintf("raise \"timeout\" (in milliseconds) on %s, or pass --timeout", entryName(te.Server, te.ConfigFile))
	}
	return fmt.Sprintf("raise \"timeout\" (in milliseconds) on %s", entryName(te.Server, te.ConfigFile))
}
