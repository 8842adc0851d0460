// Package limit holds the bounds mcplink puts on what servers send, and the
// error every reader returns when a bound is crossed.
//
// Every message read from a server — a JSON response body, one Server-Sent
// Events event, one line of a stdio server — is bounded (DefaultMessageSize
// unless the config entry's "maxMessageSize" or a surface's flag raises it),
// so a hostile or broken server cannot make mcplink's memory grow without end.
// Readers stop at the bound and return a *TooLargeError; the surfaces word it
// (naming the setting that raises the bound).
package limit

import "fmt"

const (
	// DefaultMessageSize is the bound on one message from a server: 16 MiB.
	DefaultMessageSize int64 = 16 << 20
	// MaxMessageSize is the largest bound a configuration may set: 1 TiB.
	MaxMessageSize int64 = 1 << 40
)

// TooLargeError reports a message from a server that crossed its bound.
type TooLargeError struct {
	// What names the message: "JSON response body", "SSE event",
	// "stdio line", ...
	What string
	// Limit is the bound in bytes.
	Limit int64
}

// Error names the message and the bound.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s from the server exceeds the %s limit", e.What, Size(e.Limit))
}

// Size formats a byte count for people: "16 MiB", "1.5 GiB", "1000 bytes".
func Size(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[u])
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
