package termtext_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcplink/mcplink/internal/termtext"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, clean, line string }{
		{"plain text", "plain text", "plain text"},
		{"two\nlines\tand tab", "two\nlines\tand tab", "two lines and tab"},
		{"title \x1b]0;pwned\x07 set", "title ]0;pwned set", "title ]0;pwned set"},
		{"clear\x1b[2J", "clear[2J", "clear[2J"},
		{"c1 csi \u009b31m red", "c1 csi 31m red", "c1 csi 31m red"},
		{"raw byte \x9b31m", "raw byte \uFFFD31m", "raw byte \uFFFD31m"},
		{"cr\roverwrite\bbs\x7fdel\x00nul", "croverwritebsdelnul", "croverwritebsdelnul"},
		{"bidi \u202eevil\u202c and \u2066iso\u2069", "bidi evil and iso", "bidi evil and iso"},
		{"ünïcødé — ✓ 日本", "ünïcødé — ✓ 日本", "ünïcødé — ✓ 日本"},
		{"", "", ""},
	} {
		if got := termtext.Clean(tc.in); got != tc.clean {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.clean)
		}
		if got := termtext.Line(tc.in); got != tc.line {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.line)
		}
	}
}

func TestCleanDoesNotAllocateForSafeText(t *testing.T) {
	s := strings.Repeat("a tool description — with ünïcode\n", 20)
	if n := testing.AllocsPerRun(100, func() { _ = termtext.Clean(s) }); n != 0 {
		t.Errorf("Clean of safe text allocated %v times", n)
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := termtext.Writer(&buf)
	n, err := w.Write([]byte("a\x1b[2Jb\n"))
	if err != nil || n != 7 {
		t.Fatalf("Write = %d, %v; want 7, nil", n, err)
	}
	if buf.String() != "a[2Jb\n" {
		t.Errorf("wrote %q", buf.String())
	}
}

// FuzzClean checks Clean's promises on any input: the result is valid UTF-8
// with no character Drop rejects, Clean is idempotent, safe text is kept as
// is, and Line adds no newline or tab.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "ok", "\x1b]0;pwned\x07", "\x1b[2J", "\u009b", "\x9b", "a\r\nb", "\u202e", "\xff\xfe", "日本\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := termtext.Clean(s)
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q: invalid UTF-8", s, c)
		}
		for _, r := range c {
			if termtext.Drop(r) {
				t.Fatalf("Clean(%q) = %q keeps %U", s, c, r)
			}
		}
		if termtext.Clean(c) != c {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
		safe := utf8.ValidString(s)
		for _, r := range s {
			safe = safe && !termtext.Drop(r)
		}
		if safe && c != s {
			t.Fatalf("Clean changed safe text %q to %q", s, c)
		}
		l := termtext.Line(s)
		if strings.ContainsAny(l, "\n\t") {
			t.Fatalf("Line(%q) = %q keeps a newline or tab", s, l)
		}
		if strings.ReplaceAll(strings.ReplaceAll(c, "\n", " "), "\t", " ") != l {
			t.Fatalf("Line(%q) = %q differs from Clean with spaces", s, l)
		}
	})
}
