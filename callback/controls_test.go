package callback

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/testenv"
)

// TestErrorPageDropsControls: an error_description with terminal and bidi
// controls is shown on the page without them (visible text kept), while
// the *AuthorizationError handed to mcplink keeps the exact text for the
// surfaces to clean.
func TestErrorPageDropsControls(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	state := newState(t)
	f := begin(t, reg, port, state)
	desc := "denied \x1b]0;pwned\x07 \x1b[2J \u009b31m \u202eevil"
	r := do(t, http.MethodGet, callbackURL(port, url.Values{
		"error": {"access_denied\x1b[31m"}, "error_description": {desc}, "state": {state},
	}))
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	for _, bad := range []string{"\x1b", "\a", "\u009b", "\u202e"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("the page carries %q: %q", bad, r.body)
		}
	}
	if !strings.Contains(r.body, "access_denied[31m: denied ]0;pwned [2J 31m evil") {
		t.Errorf("the page lacks the cleaned description: %s", r.body)
	}
	_, err := waitFlow(t, f)
	var aerr *AuthorizationError
	if !errors.As(err, &aerr) || aerr.Description != desc {
		t.Fatalf("Wait error = %#v, want the exact description", err)
	}
	waitBindable(t, port)
}
