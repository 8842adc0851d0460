package limit

import (
	"errors"
	"fmt"
	"testing"
)

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{
		1000:               "1000 bytes",
		1024:               "1 KiB",
		DefaultMessageSize: "16 MiB",
		3 << 29:            "1.5 GiB",
		MaxMessageSize:     "1 TiB",
	} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTooLargeErrorIsMatchable(t *testing.T) {
	err := fmt.Errorf("reading: %w", &TooLargeError{What: "SSE event", Limit: DefaultMessageSize})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != DefaultMessageSize {
		t.Fatalf("errors.As failed on %v", err)
	}
	if got, want := tl.Error(), "SSE event from the server exceeds the 16 MiB limit"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
