//go:build unix

package oauth

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/safefile"
)

// An assertionFile or privateKeyFile that names a FIFO (no writer: reading
// it would block for ever) or a device is an error at once, with no token
// request made.
func TestSecretFilesThatAreNotRegularFailAtOnce(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now})
	for _, tc := range []struct {
		name string
		o    config.OAuth
	}{
		{"assertionFile FIFO", config.OAuth{Grant: config.GrantJWTBearer, ClientID: "wl", AssertionFile: fifo}},
		{"assertionFile device", config.OAuth{Grant: config.GrantJWTBearer, ClientID: "wl", AssertionFile: "/dev/zero"}},
		{"privateKeyFile FIFO", config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc", PrivateKeyFile: fifo}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := v.e.Token(ctxT(t), machineEntry(m, tc.o))
			var nr *safefile.NotRegularError
			if !errors.As(err, &nr) {
				t.Fatalf("err = %v, want a NotRegularError", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			if !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("err = %v", err)
			}
		})
	}
	if n := len(tokenForms(m)); n != 0 {
		t.Errorf("%d token requests made without a readable secret", n)
	}
}
