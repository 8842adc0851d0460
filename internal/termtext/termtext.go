// Package termtext makes text that a server controls safe to print on a
// terminal.
//
// Servers choose tool names and descriptions, instructions, error messages,
// OAuth error descriptions and tool results. Written raw to a terminal, an
// escape sequence among them can retitle the window (OSC 0), clear the
// screen, move the cursor to overwrite what mcplink printed, or — on some
// terminals — write to the clipboard or files. Every human-facing surface
// (the CLI's human output and diagnostics, the TUI, the callback page) passes
// such text through Clean or Line. Machine output (--json) keeps the exact
// text; JSON escapes it.
package termtext

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Clean returns s without the characters a terminal would act on rather than
// show:
//
//   - C0 controls (U+0000–U+001F) except newline and tab: ESC starts escape
//     sequences, BEL rings, CR and BS overwrite what is already shown;
//   - DEL (U+007F) and the C1 controls (U+0080–U+009F): U+009B is a one-byte
//     CSI and U+009D an OSC for terminals that honour 8-bit controls;
//   - the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
//     U+2066–U+2069), which reorder the text around them so that what is
//     shown differs from what is there ("Trojan Source");
//   - bytes that are not valid UTF-8, each replaced by U+FFFD, because a
//     terminal in an 8-bit mode reads a lone 0x9B as CSI.
//
// Text with none of these is returned as is, without allocating.
func Clean(s string) string {
	return clean(s, false)
}

// Line is Clean for text shown on one line (a table cell, a name): newlines
// and tabs become spaces too, so the text cannot forge further lines.
func Line(s string) string {
	return clean(s, true)
}

// Drop reports whether Clean removes r.
func Drop(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\n' && r != '\t'
	case r < 0x7f:
		return false
	case r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func clean(s string, oneLine bool) string {
	i := firstUnsafe(s, oneLine)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case oneLine && (c == '\n' || c == '\t'):
				b.WriteByte(' ')
			case !Drop(rune(c)):
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteRune(utf8.RuneError)
		case !Drop(r):
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// firstUnsafe returns the index of the first byte that starts something
// clean would change, or len(s).
func firstUnsafe(s string, oneLine bool) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if Drop(rune(c)) || (oneLine && (c == '\n' || c == '\t')) {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || Drop(r) {
			return i
		}
		i += n
	}
	return len(s)
}

// Writer returns a writer that passes everything written through Clean
// before writing it to w. Each Write is cleaned on its own: a multi-byte
// character split across two writes shows as U+FFFD (never as a control).
// It reports len(p) written when w accepted the cleaned bytes.
func Writer(w io.Writer) io.Writer { return &writer{w: w} }

type writer struct{ w io.Writer }

func (w *writer) Write(p []byte) (int, error) {
	s := Clean(string(p))
	if _, err := io.WriteString(w.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
