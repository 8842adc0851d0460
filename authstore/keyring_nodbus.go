//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd)

package authstore

import (
	"context"
	"runtime"
)

// platformChunkSize keeps each keyring value within the platform's limit
// (see chunkSizeFor).
var platformChunkSize = chunkSizeFor(runtime.GOOS)

// keyringFix names the step that makes the Keychain or Credential Manager
// usable.
func keyringFix(locked bool) string {
	switch {
	case runtime.GOOS == "darwin" && locked:
		return "unlock the login keychain (Keychain Access, or security unlock-keychain)"
	case runtime.GOOS == "darwin":
		return "check that this user has a login keychain (Keychain Access)"
	case runtime.GOOS == "windows":
		return "check that Windows Credential Manager is available to this account (service accounts and some remote sessions have none)"
	}
	return "no system keyring is supported on " + runtime.GOOS
}

// preflight has nothing to check without a Secret Service: the probe's
// keyring read (bounded by ctx) is the check.
func preflight(ctx context.Context) error { return ctx.Err() }

// abortKeyringCalls cannot interrupt a Keychain or Credential Manager call;
// such calls are short system calls (or, on macOS, a `security` process)
// that end on their own.
func abortKeyringCalls() {}
