//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd)

package authstore

import (
	"context"
	"runtime"
)

// platformChunkSize keeps each keyring value within the platform's limit:
// about 3000 bytes for service, account and base64 value on macOS, 2560
// bytes per credential blob on Windows.
var platformChunkSize = chunkSizeFor(runtime.GOOS)

func chunkSizeFor(goos string) int {
	if goos == "darwin" {
		return 1500
	}
	return 2000
}

// preflight has nothing to check without a Secret Service: the probe's
// keyring read (bounded by ctx) is the check.
func preflight(ctx context.Context) error { return ctx.Err() }

// abortKeyringCalls cannot interrupt a Keychain or Credential Manager call;
// such calls are short system calls (or, on macOS, a `security` process)
// that end on their own.
func abortKeyringCalls() {}
