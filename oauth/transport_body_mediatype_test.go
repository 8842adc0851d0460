package oauth_test

import (
	"mime"
	"testing"

	"github.com/mcplink/mcplink/oauth"
)

// MediaType answers as mime.ParseMediaType does, with or without its fast path.
func TestMediaType(t *testing.T) {
	for _, ct := range []string{"application/json", "text/event-stream", "Text/Event-Stream", "application/json; charset=utf-8",
		"text/event-stream;charset=UTF-8", " application/json", "", "text/plain", "garbage;;", "application/json "} {
		want, _, _ := mime.ParseMediaType(ct)
		if got := oauth.MediaType(ct); got != want {
			t.Errorf("MediaType(%q) = %q, want %q", ct, got, want)
		}
	}
}
