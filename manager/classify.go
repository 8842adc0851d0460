package manager

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mcplink/mcplink/config"
)

// HeaderRefusedError is a server answering 401 to requests that carried the
// entry's configured credentials: its Authorization header, or (with
// "oauth": false) whatever headers the entry sets. Signing in cannot help
// while the configured header is sent, so the status is failed, not
// needs_auth; the fix is in the config.
type HeaderRefusedError struct {
	Server     string // config entry name
	ConfigFile string
	// Headers are the names of the entry's configured headers, sorted;
	// never their values.
	Headers []string
	// Status is the HTTP status of the refusal (401).
	Status int
	// Challenge is the refusal's WWW-Authenticate, without control
	// characters and size-bounded; empty when there was none.
	Challenge string
	// OAuthDisabled is true for an entry with "oauth": false.
	OAuthDisabled bool
}

// Authorization reports whether the configured headers include
// Authorization (in any letter case).
func (e *HeaderRefusedError) Authorization() bool {
	return slices.ContainsFunc(e.Headers, func(h string) bool { return strings.EqualFold(h, "Authorization") })
}

func (e *HeaderRefusedError) Error() string {
	answer := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Challenge != "" {
		answer += "; WWW-Authenticate: " + e.Challenge
	}
	where := fmt.Sprintf("the \"headers\" of %q in %s", e.Server, e.ConfigFile)
	if e.ConfigFile == "" {
		where = fmt.Sprintf("the \"headers\" of %q", e.Server)
	}
	if e.Authorization() {
		msg := fmt.Sprintf("the server refused the Authorization header from the config (%s): correct it in %s, or remove it to let mcplink sign in with OAuth", answer, where)
		if e.OAuthDisabled {
			msg += ` (and remove "oauth": false)`
		}
		return msg
	}
	return fmt.Sprintf("the server refused the headers from the config (%s) (%s): correct them in %s, or remove \"oauth\": false to let mcplink sign in with OAuth",
		strings.Join(e.Headers, ", "), answer, where)
}

// headerRefusal returns the HeaderRefusedError for a 401 (code) to a
// request that carried e's configured credentials, or nil: with OAuth on,
// only a configured Authorization header counts (other headers are not
// credentials mcplink could replace); with "oauth": false, any configured
// header does.
func headerRefusal(e *config.Entry, code int, challenge string) *HeaderRefusedError {
	if code != http.StatusUnauthorized || len(e.Headers) == 0 {
		return nil
	}
	err := &HeaderRefusedError{Server: e.Name, ConfigFile: e.Source, Status: code, Challenge: boundChallenge(challenge), OAuthDisabled: e.OAuthDisabled}
	for k := range e.Headers {
		err.Headers = append(err.Headers, k)
	}
	slices.Sort(err.Headers)
	if !e.OAuthDisabled && !err.Authorization() {
		return nil
	}
	return err
}

// boundChallenge strips control characters from a server's WWW-Authenticate
// and keeps at most 300 bytes of it.
func boundChallenge(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > 300 {
		cut := 300
		for cut > 0 && s[cut]&0xc0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
