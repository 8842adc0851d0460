//go:build unix

// Chromium is driven over --remote-debugging-pipe (its fds 3 and 4 through
// ExtraFiles), which os/exec supports only on Unix.

package oauthtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"

	"github.com/mcplink/mcplink/internal/chromium"
)

// cdp is a minimal Chrome DevTools Protocol client over --remote-debugging-pipe
// (chromium reads NUL-terminated JSON commands on fd 3 and answers on fd 4).
type cdp struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     *os.File // our end of chromium's fd 3
	out    *os.File // our end of chromium's fd 4
	reader *bufio.Reader
	nextID int
}

func startChromium(t *testing.T) *cdp {
	t.Helper()
	start := time.Now()
	t.Cleanup(func() { t.Logf("chromium session took %v", time.Since(start)) })
	bin := chromium.Require(t)
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-extensions", "--remote-debugging-pipe", "--user-data-dir="+t.TempDir(), "about:blank")
	cmd.Env = testenv.Env(t)                              // its profile, config and cache dirs are the test's
	cmd.ExtraFiles = []*os.File{cmdR, resW}               // fd 3, fd 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // helpers die with it
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	resW.Close()
	c := &cdp{t: t, cmd: cmd, in: cmdW, out: resR, reader: bufio.NewReader(resR)}
	t.Cleanup(func() {
		_, _ = c.in.Write([]byte(`{"id":999999,"method":"Browser.close"}` + "\x00"))
		_ = c.in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Log("chromium did not exit after Browser.close; killing its process group")
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		c.out.Close()
	})
	return c
}

// call sends a command and returns its result, skipping events.
func (c *cdp) call(sessionID, method string, params any) json.RawMessage {
	c.t.Helper()
	c.nextID++
	msg := map[string]any{"id": c.nextID, "method": method, "params": params}
	if sessionID != "" {
		msg["sessionId"] = sessionID
	}
	b, _ := json.Marshal(msg)
	if _, err := c.in.Write(append(b, 0)); err != nil {
		c.t.Fatalf("cdp %s: write: %v", method, err)
	}
	_ = c.out.SetReadDeadline(time.Now().Add(15 * time.Second))
	for range 10000 {
		line, err := c.reader.ReadBytes(0)
		if err != nil {
			c.t.Fatalf("cdp %s: read: %v", method, err)
		}
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(bytes.TrimSuffix(line, []byte{0}), &resp); err != nil {
			c.t.Fatalf("cdp %s: bad message: %v", method, err)
		}
		if resp.ID != c.nextID {
			continue // an event or an older answer
		}
		if resp.Error != nil {
			c.t.Fatalf("cdp %s: %s", method, resp.Error.Message)
		}
		return resp.Result
	}
	c.t.Fatalf("cdp %s: no answer", method)
	return nil
}

// openAndClick opens url in a new tab and clicks the element with the given
// id once it exists.
func (c *cdp) openAndClick(url, id string) {
	c.t.Helper()
	var target struct{ TargetID string }
	_ = json.Unmarshal(c.call("", "Target.createTarget", map[string]any{"url": url}), &target)
	var att struct{ SessionID string }
	_ = json.Unmarshal(c.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}), &att)
	expr := fmt.Sprintf(`(() => { const b = document.getElementById(%q); if (!b) return "wait"; b.click(); return "clicked"; })()`, id)
	// The page's DOM is polled: the browser sends no event for "this
	// element now exists".
	if testwait.Until(10*time.Second, func() bool {
		var res struct {
			Result struct {
				Value string `json:"value"`
			} `json:"result"`
		}
		_ = json.Unmarshal(c.call(att.SessionID, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}), &res)
		return res.Result.Value == "clicked"
	}) {
		return
	}
	c.t.Fatalf("button #%s never appeared at %s", id, redactString(url))
}

func redactString(u string) string {
	if i := bytes.IndexByte([]byte(u), '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// TestConsentPageInChromium drives the consent page with a real headless
// browser: Approve and Deny buttons, form POST, redirect to the callback.
func TestConsentPageInChromium(t *testing.T) {
	browser := startChromium(t)
	srv := start(t, Options{ConsentPage: true})
	f := newFlow(t, srv, AuthMethodNone, "mcp:read", "offline_access")
	verifier := oauth2.GenerateVerifier()
	authURL := func(state string) string {
		return f.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", srv.MCPURL))
	}

	browser.openAndClick(authURL("deny-state"), "deny")
	q := f.cb.wait(t)
	if q.Get("error") != "access_denied" || q.Get("state") != "deny-state" || q.Get("iss") != srv.IssuerURL {
		t.Errorf("deny in browser: %v", q)
	}

	browser.openAndClick(authURL("approve-state"), "approve")
	q = f.cb.wait(t)
	if q.Get("code") == "" || q.Get("state") != "approve-state" || q.Get("iss") != srv.IssuerURL {
		t.Fatalf("approve in browser: %v", q)
	}
	tok, err := f.cfg.Exchange(testCtx(t), q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", srv.MCPURL))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.Extra("scope") != "mcp:read offline_access" || tok.RefreshToken == "" {
		t.Errorf("token scope %v refresh %v", tok.Extra("scope"), tok.RefreshToken != "")
	}
	if st := srv.Stats(); st.ConsentApprovals != 1 || st.ConsentDenials != 1 {
		t.Errorf("consent stats: %+v", st)
	}
}
