package oauth

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// TestPastePaddedCode: an authorization server whose codes end in "=="
// (base64 padding). Pasted alone, such a code is a code (it used to be read
// as a redirect URL and refused); pasted as the redirect's query it is
// still a redirect; PasteCode delivers it as given, refuses what cannot be
// a code without ending the flow, and says so once the flow ended.
func TestPastePaddedCode(t *testing.T) {
	s := startAS(t, oauthtest.Options{PaddedCodes: true})
	urls := make(chan string, 1)
	v := newEnv(t, "", remoteBrowser(urls))
	entry := testEntry(t, s.MCPURL)
	codeOf := func(redirect string) (string, *url.URL) {
		u, err := url.Parse(redirect)
		if err != nil {
			t.Fatalf("redirect %q: %v", redirect, err)
		}
		code := u.Query().Get("code")
		if !strings.HasSuffix(code, "==") {
			t.Fatalf("the AS issued %q, want a code ending in ==", code)
		}
		return code, u
	}

	// Paste mode (CLI stdin, TUI p), the bare code.
	paste := make(chan string, 1)
	go func() {
		code, _ := codeOf(<-urls)
		paste <- code
	}()
	if c, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste}); err != nil || c.Token == nil {
		t.Fatalf("pasted padded code: %+v, %v\nnotes:\n%s", c, err, v.notes.all())
	}
	// The redirect's query alone ("code=…%3D%3D&state=…") is a redirect.
	paste = make(chan string, 1)
	go func() {
		_, u := codeOf(<-urls)
		paste <- u.RawQuery
	}()
	if _, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste}); err != nil {
		t.Fatalf("pasted query: %v\nnotes:\n%s", err, v.notes.all())
	}

	// PasteCode on a flow begun without a browser (the API's way).
	p, err := v.e.Begin(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	redirect, err := oauthtest.RedirectURL(ctxT(t), p.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := codeOf(redirect)
	for _, bad := range []string{"", " \n", "a code with spaces", code + "\x00"} {
		if err := p.PasteCode(bad); err == nil {
			t.Fatalf("PasteCode(%q) accepted", bad)
		}
	}
	select {
	case <-p.flow.Done():
		t.Fatal("a refused code ended the flow")
	default:
	}
	tokensBefore := s.Stats().TokenRequests["authorization_code"]
	if err := p.PasteCode(code + "\n"); err != nil { // as copied, with its line's end
		t.Fatalf("PasteCode(%q): %v", code, err)
	}
	c, err := p.Wait(ctxT(t))
	if err != nil || c.Token == nil {
		t.Fatalf("Wait after PasteCode: %+v, %v", c, err)
	}
	if n := s.Stats().TokenRequests["authorization_code"]; n != tokensBefore+1 {
		t.Fatalf("token requests %d → %d, want one exchange", tokensBefore, n)
	}
	if err := p.PasteCode(code); !errors.Is(err, callback.ErrUnknownState) {
		t.Fatalf("PasteCode after the flow ended = %v, want ErrUnknownState", err)
	}
}

func TestLooksLikeRedirect(t *testing.T) {
	for in, want := range map[string]bool{
		"http://127.0.0.1:19876/mcp/oauth/callback?code=a&state=b": true,
		"https://example.com/cb#code=a&state=b":                    true,
		"code=abc%3D%3D&state=xyz":                                 true,
		"?code=abc==&state=xyz":                                    true,
		"error=access_denied&state=xyz":                            true,
		"abc==":                                                    false,
		"Zm9vYmFy=":                                                false,
		"a=b=c":                                                    false,
		"state=xyz":                                                false, // no code or error: a code (refused by the AS if it is not)
		"abc;def=":                                                 false,
		"plain-code":                                               false,
	} {
		if got := looksLikeRedirect(in); got != want {
			t.Errorf("looksLikeRedirect(%q) = %v, want %v", in, got, want)
		}
	}
}
