// Package netutil holds the one loopback-host check that the oauth, callback,
// api and test packages share: which hosts count as "this machine" for
// http:// URLs, callback listeners and unauthenticated API listeners.
package netutil

import (
	"net"
	"strings"
)

// IsLoopbackHost reports whether host — an IP literal (bracketed or not) or
// a name, without a port — is a loopback host: "localhost" (any case) or an
// address in 127.0.0.0/8 or ::1. Other names are not resolved: a name that
// resolves to a loopback address today may not tomorrow.
func IsLoopbackHost(host string) bool {
	h := strings.Trim(host, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
