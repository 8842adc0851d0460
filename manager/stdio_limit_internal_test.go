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

// FuzzMessageLimiter: with a bound no smaller than the input, the limiter
// changes nothing — the decoder sees the same values and the same error as
// without it; with a small bound, no value longer than the bound gets
// through.
func FuzzMessageLimiter(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{}}` + "\n",
		`[{"a":"]}\""},{"b":[1,{"c":"\\"}]}]` + "\n" + `{"x":1}`,
		"{\n\"a\":\n[1,\n2]\n}\n\n\n{}",
		`"top" 1 true null {"s":"\u005d"}`,
		`}}}]]] {"a":1}`,
	} {
		f.Add(s, uint8(16))
	}
	f.Fuzz(func(t *testing.T, in string, small uint8) {
		plain := decodeValues(strings.NewReader(in))
		same := decodeValues(newMessageLimiter(strings.NewReader(in), int64(len(in))+1))
		if !slicesEqual(plain.values, same.values) || (plain.err == nil) != (same.err == nil) {
			t.Fatalf("a bound above the input changed the result:\nplain %q %v\nlimited %q %v", plain.values, plain.err, same.values, same.err)
		}
		max := int64(small) + 1
		for _, v := range decodeValues(newMessageLimiter(strings.NewReader(in), max)).values {
			if int64(len(v)) > max {
				t.Fatalf("a %d-byte value passed a %d-byte bound: %q", len(v), max, v)
			}
		}
	})
}

type decoded struct {
	values []string
	err    error
}

func decodeValues(r io.Reader) decoded {
	dec := json.NewDecoder(r)
	var d decoded
	for len(d.values) < 1000 {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if !errors.Is(err, io.EOF) {
				d.err = err
			}
			return d
		}
		d.values = append(d.values, string(raw))
	}
	return d
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BenchmarkMessageLimiter measures the limiter's cost per byte on a stream
// of 64 KiB tool results (mostly string content).
func BenchmarkMessageLimiter(b *testing.B) {
	msg := `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"` + strings.Repeat(`Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n`, 800) + `"}]}}` + "\n"
	in := strings.Repeat(msg, 16)
	b.SetBytes(int64(len(in)))
	buf := make([]byte, 32<<10)
	for b.Loop() {
		l := newMessageLimiter(strings.NewReader(in), 16<<20)
		for {
			if _, err := l.Read(buf); err != nil {
				break
			}
		}
	}
}
