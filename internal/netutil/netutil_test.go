package netutil

import "testing"

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.0.0.2": true,
		"::1": true, "[::1]": true,
		"": false, "localhost.evil.com": false, "0.0.0.0": false, "::": false,
		"192.168.1.1": false, "example.com": false, "[::1": true, "127.0.0.1:80": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
