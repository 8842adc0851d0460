package testwait

import (
	"testing"
	"time"
)

// OAuthEngineWork is in the stack of every goroutine doing sign-in work of
// the OAuth engine, from its first instruction (a goroutine about to start
// a sign-in shows its entry point); OAuthDeviceGrant is the device grant's
// polling loop among them (RFC 8628).
const (
	OAuthEngineWork  = "mcplink/oauth.(*Engine)."
	OAuthDeviceGrant = OAuthEngineWork + "deviceFlow("
)

// DeviceGrantRuns fails t unless a goroutine runs the device grant: the
// control for NoSignInWork, which would pass vacuously if the engine's
// names changed.
func DeviceGrantRuns(t testing.TB) {
	t.Helper()
	if Stacks(OAuthDeviceGrant) == "" {
		t.Fatalf("no goroutine runs %s while a device flow is pending", OAuthDeviceGrant)
	}
}

// NoSignInWork fails t unless, within d, no goroutine does sign-in work of
// the OAuth engine: after a flow ended, nothing is left that could poll
// the token endpoint for its code.
func NoSignInWork(t testing.TB, d time.Duration) {
	t.Helper()
	if !Until(d, func() bool { return Stacks(OAuthEngineWork) == "" }) {
		t.Fatalf("goroutines still do sign-in work of the OAuth engine %s after the flow ended:\n%s", d, Stacks(OAuthEngineWork))
	}
}
