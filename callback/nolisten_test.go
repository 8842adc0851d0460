package callback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"
)

func TestNoListenFlowCompletesByDeliver(t *testing.T) {
	port := testenv.FreePort(t)
	reg := New(Options{})
	defer reg.Close()
	f, err := reg.Begin(context.Background(), Request{RedirectURI: uriFor(port), State: "s1", NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Listening() || f.ListenAddr() != "" {
		t.Fatalf("NoListen flow listens on %q", f.ListenAddr())
	}
	waitBindable(t, port) // nothing bound
	if err := reg.Deliver("s1", url.Values{"code": {"c"}}); err != nil {
		t.Fatal(err)
	}
	p, err := waitFlow(t, f)
	if err != nil || p.Get("code") != "c" || p.Get("state") != "s1" {
		t.Fatalf("params %v err %v", p, err)
	}
}

func TestListenFallbackOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	reg := New(Options{})
	defer reg.Close()
	var notes []string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := reg.Begin(ctx, Request{RedirectURI: uriFor(port), State: "s1", Server: "notion", ListenFallback: true,
		Notify: func(m string) { notes = append(notes, m) }})
	if err != nil {
		t.Fatalf("ListenFallback on a busy port: %v", err)
	}
	if f.Listening() {
		t.Fatal("flow claims a listener on a busy port")
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "could not start the OAuth callback listener") || !strings.Contains(notes[0], fmt.Sprint(port)) {
		t.Errorf("notes = %q", notes)
	}
	go func() { _ = reg.Deliver("s1", url.Values{"error": {"access_denied"}}) }()
	_, err = waitFlow(t, f)
	var ae *AuthorizationError
	if !errors.As(err, &ae) || ae.Code != "access_denied" {
		t.Fatalf("err = %v", err)
	}
	// A second flow on a free port sharing the registry still listens.
	f2 := begin(t, reg, testenv.FreePort(t), "s2")
	defer f2.Close()
	if !f2.Listening() {
		t.Fatal("flow on a free port does not listen")
	}
}

func TestListenHost(t *testing.T) {
	port := testenv.FreePort(t)
	reg := New(Options{})
	defer reg.Close()
	f, err := reg.Begin(context.Background(), Request{RedirectURI: uriFor(port), State: "s1", ListenHost: "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	autoReport(f, nil)
	if want := fmt.Sprintf("127.0.0.2:%d", port); f.ListenAddr() != want {
		t.Fatalf("ListenAddr = %q, want %q", f.ListenAddr(), want)
	}
	r := do(t, "GET", fmt.Sprintf("http://127.0.0.2:%d%s?code=c&state=s1", port, DefaultPath))
	if r.status != 200 {
		t.Fatalf("callback on the listen host answered %d", r.status)
	}
	if p, err := waitFlow(t, f); err != nil || p.Get("code") != "c" {
		t.Fatalf("params %v err %v", p, err)
	}
	_, err = reg.Begin(context.Background(), Request{RedirectURI: uriFor(port), State: "s2", ListenHost: "my host", Server: "srv", ConfigFile: "c.json"})
	var se *SettingError
	if !errors.As(err, &se) || se.Setting != SettingHost || se.Value != "my host" || se.Server != "srv" || se.ConfigFile != "c.json" || !strings.Contains(err.Error(), `OAuth callback host "my host" is not an IP address`) {
		t.Fatalf("bad listen host: %#v", err)
	}
}
