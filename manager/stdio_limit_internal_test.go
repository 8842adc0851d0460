package manager

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/limit"
)

// decodeAll decodes JSON values from in through a limiter of max bytes, as
// go-sdk's stdio transport does, and returns how many it decoded and the
// error that ended it.
func decodeAll(in string, max int64) (int, error) {
	dec := json.NewDecoder(newMessageLimiter(strings.NewReader(in), max))
	for n := 0; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
}

func TestMessageLimiter(t *testing.T) {
	const max = 100
	msg := func(size int) string { // a one-line message of exactly size bytes
		head, tail := `{"s":"`, `"}`
		return head + strings.Repeat("x", size-len(head)-len(tail)) + tail
	}
	for _, tc := range []struct {
		name    string
		in      string
		n       int
		tooLarg bool
	}{
		{"many small messages, far more than max in total", strings.Repeat(msg(90)+"\n", 50), 50, false},
		{"a message of exactly max bytes", msg(max), 1, false},
		{"a message one byte over", msg(max + 1), 0, true},
		{"brackets and escaped quotes inside strings do not end a message",
			`{"s":"}]}\"}]` + strings.Repeat("x", 90) + `"}`, 0, true},
		{"a pretty-printed message counts whole across its lines",
			"{\n" + strings.Repeat(" \"k\": 1,\n", 20) + " \"z\": 1\n}\n", 0, true},
		{"a flood of blank lines counts toward the next message", msg(10) + strings.Repeat("\n", 200) + msg(10), 1, true},
		{"an endless line", `{"s":"` + strings.Repeat("x", 10_000), 0, true},
		{"nested values end at depth zero", strings.Repeat(`{"a":[{"b":[1,2]},{"c":"]"}]}`+"\n", 20), 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := decodeAll(tc.in, max)
			var tle *limit.TooLargeError
			if tc.tooLarg != errors.As(err, &tle) {
				t.Fatalf("decoded %d, err = %v; want too large: %v", n, err, tc.tooLarg)
			}
			if err != nil && !tc.tooLarg {
				t.Fatalf("decoded %d, err = %v", n, err)
			}
			if n != tc.n {
				t.Errorf("decoded %d messages, want %d", n, tc.n)
			}
			if tle != nil && (tle.What != "stdio line" || tle.Limit != max) {
				t.Errorf("error = %+v", tle)
			}
		})
	}
}
