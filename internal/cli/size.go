package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/manager"
)

// parseSize parses a size flag: a number of bytes ("67108864") or a number
// with a binary unit ("64MiB", "64MB" and "64M" mean the same), from 1 KiB
// to limit.MaxMessageSize. "" is 0 (not given).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	mult := map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 {
		return 0, fmt.Errorf("%q is not a size: give bytes (67108864) or a number with KiB, MiB or GiB (64MiB)", s)
	}
	if n > limit.MaxMessageSize/mult || n*mult < 1024 {
		return 0, errors.New(strconv.Quote(s) + " is out of range: from 1KiB to 1TiB")
	}
	return n * mult, nil
}

// proxyLimitHint is how to raise the proxy's message size bound for e, for
// the JSON-RPC error a request gets when a message crossed it.
func proxyLimitHint(e *config.Entry) string {
	if e.Source == commandLineSource {
		return "restart the proxy with a larger --max-message-size (e.g. --max-message-size 64MiB)"
	}
	return fmt.Sprintf("raise \"maxMessageSize\" of %q in %s, or restart the proxy with a larger --max-message-size (e.g. 64MiB)", e.Name, e.Source)
}

// limitHint words an error that carries a *limit.TooLargeError for a
// person: the bound, and the config field of server that raises it. ""
// when err carries none.
func limitHint(err error, server string) string {
	var tl *limit.TooLargeError
	if !errors.As(err, &tl) {
		return ""
	}
	return tooLargeHint(tl, server)
}

func tooLargeHint(tl *limit.TooLargeError, server string) string {
	return fmt.Sprintf("the server sent a message larger than the %s limit; if its messages are legitimately that large, raise \"maxMessageSize\" (in bytes) on the entry of %q in the config", limit.Size(tl.Limit), server)
}

// stateError is a server state's error with its fix (internal/fix) or,
// when a message crossed its size bound, the way to raise it, for the
// commands whose --timeout bounds the connect (list, tools, call,
// resources, prompts).
func stateError(st manager.State) string {
	return stateErrorOn(st, fix.CLITimeout)
}

// stateErrorOn is stateError for surface s: fix.CLI for a command without
// a connect --timeout.
func stateErrorOn(st manager.State, s fix.Surface) string {
	var tl *limit.TooLargeError
	if !errors.As(st.Err, &tl) {
		return fix.State(st, s)
	}
	return st.Error + "; " + tooLargeHint(tl, st.Name)
}
