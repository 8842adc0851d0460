// Package chromium finds the headless Chromium the real-browser tests drive
// (status page, consent page, callback pages, identity-provider sign-ins).
//
// There is one rule for every test that needs it: MCPLINK_E2E_CHROMIUM names
// the binary, else the first of chromium, chromium-browser, google-chrome and
// google-chrome-stable on PATH. Without one a test skips locally and fails
// when CI is set, so a broken install never passes quietly.
package chromium

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// EnvPath names the environment variable that overrides the lookup.
const EnvPath = "MCPLINK_E2E_CHROMIUM"

// names are the binaries tried on PATH, in order.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Path returns the Chromium binary to use, or an error saying how to get one.
func Path() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvPath, p, err)
		}
		return p, nil
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (apt-get install chromium, or set " + EnvPath + ")")
}

// Require returns the Chromium binary, or skips tb (fails it when CI is set).
func Require(tb testing.TB) string {
	tb.Helper()
	p, err := Path()
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%v (CI is set, so this is a failure, not a skip)", err)
	}
	tb.Skip(err)
	return ""
}
