package manager_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testwait"
	"github.com/mcplink/mcplink/manager"
)

// TestResourcesAndPrompts lists and reads resources (text, blob, template)
// and lists and renders a prompt, over Streamable HTTP and stdio.
func TestResourcesAndPrompts(t *testing.T) {
	s := startHTTP(t, mcptest.HTTPOptions{})
	m := newManager(t, manager.Options{}, remote("web", s.URL), local(t, "loc", mcptest.ModeStdio))
	ctx := context.Background()
	for _, name := range []string{"web", "loc"} {
		t.Run(name, func(t *testing.T) {
			st, err := m.Connect(ctx, name)
			wantStatus(t, st, manager.StatusConnected)
			if err != nil {
				t.Fatal(err)
			}
			res, tmpls, err := m.Resources(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			uris := map[string]string{}
			for _, r := range res {
				uris[r.URI] = r.MIMEType
			}
			if len(res) != 2 || uris[mcptest.ResourceText] != "text/plain" || uris[mcptest.ResourceBlob] != "image/png" {
				t.Fatalf("resources = %v", uris)
			}
			if len(tmpls) != 1 || tmpls[0].URITemplate != mcptest.ResourceTemplate {
				t.Fatalf("templates = %+v", tmpls)
			}
			rr, err := m.ReadResource(ctx, name, mcptest.ResourceText)
			if err != nil || len(rr.Contents) != 1 || rr.Contents[0].Text != mcptest.ResourceTextBody {
				t.Fatalf("read text: %+v, %v", rr, err)
			}
			rr, err = m.ReadResource(ctx, name, mcptest.ResourceBlob)
			if err != nil || len(rr.Contents) != 1 || !bytes.Equal(rr.Contents[0].Blob, mcptest.ResourceBlobBody) {
				t.Fatalf("read blob: %+v, %v", rr, err)
			}
			rr, err = m.ReadResource(ctx, name, "mcptest://echo/abc")
			if err != nil || rr.Contents[0].Text != "abc" {
				t.Fatalf("read template: %+v, %v", rr, err)
			}
			if _, err := m.ReadResource(ctx, name, "mcptest://nope"); err == nil {
				t.Fatal("reading an unknown resource succeeded")
			}

			ps, err := m.Prompts(ctx, name)
			if err != nil || len(ps) != 1 || ps[0].Name != mcptest.PromptGreet || len(ps[0].Arguments) != 2 || !ps[0].Arguments[0].Required {
				t.Fatalf("prompts: %+v, %v", ps, err)
			}
			gp, err := m.GetPrompt(ctx, name, mcptest.PromptGreet, map[string]string{"name": "Ann", "style": "formal"})
			if err != nil {
				t.Fatal(err)
			}
			if len(gp.Messages) != 1 || gp.Messages[0].Role != "user" {
				t.Fatalf("prompt messages = %+v", gp.Messages)
			}
			if got := gp.Messages[0].Content; got == nil {
				t.Fatal("no content")
			}
		})
	}
}

// TestUnsupportedFeature: a server that declares no resources or prompts
// gets a typed error naming it, without a request.
func TestUnsupportedFeature(t *testing.T) {
	m := newManager(t, manager.Options{}, local(t, "bare", mcptest.ModeToolsOnly))
	ctx := context.Background()
	st, _ := m.Connect(ctx, "bare")
	wantStatus(t, st, manager.StatusConnected)
	_, _, err := m.Resources(ctx, "bare")
	var ue *manager.UnsupportedError
	if !errors.As(err, &ue) || ue.Server != "bare" || ue.Feature != manager.FeatureResources {
		t.Fatalf("Resources: %v, want *UnsupportedError for resources", err)
	}
	if _, err := m.GetPrompt(ctx, "bare", "x", nil); !errors.As(err, &ue) || ue.Feature != manager.FeaturePrompts {
		t.Fatalf("GetPrompt: %v, want *UnsupportedError for prompts", err)
	}
	if _, err := m.Prompts(ctx, "nope"); !errors.Is(err, manager.ErrUnknownServer) {
		t.Fatalf("Prompts on an unknown server: %v", err)
	}
}

// TestCallToolProgress: the progress the server reports for a call reaches
// that call's callback, with and without a total; two calls at once each get
// only their own.
func TestCallToolProgress(t *testing.T) {
	s := startHTTP(t, mcptest.HTTPOptions{RecordMethods: true})
	m := newManager(t, manager.Options{}, remote("web", s.URL))
	ctx := context.Background()
	st, _ := m.Connect(ctx, "web")
	wantStatus(t, st, manager.StatusConnected)

	type call struct {
		args  map[string]any
		mu    sync.Mutex
		got   []manager.Progress
		total float64
	}
	calls := []*call{
		{args: map[string]any{"steps": 3, "ms": 30}, total: 3},
		{args: map[string]any{"steps": 5, "ms": 20, "noTotal": true}, total: 0},
	}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			res, err := m.CallToolProgress(ctx, "web", mcptest.ToolProgress, c.args, func(p manager.Progress) {
				c.mu.Lock()
				c.got = append(c.got, p)
				c.mu.Unlock()
			})
			if err != nil || res.IsError {
				t.Errorf("call: %v %+v", err, res)
			}
		})
	}
	wg.Wait()
	for i, c := range calls {
		c.mu.Lock()
		got := c.got
		c.mu.Unlock()
		if len(got) < 2 {
			t.Fatalf("call %d: %d progress reports, want at least 2: %+v", i, len(got), got)
		}
		steps := int(c.args["steps"].(int))
		for j, p := range got {
			if p.Total != c.total || p.Progress < 1 || int(p.Progress) > steps || (j > 0 && p.Progress <= got[j-1].Progress) {
				t.Fatalf("call %d: report %d = %+v (total want %v, steps %d)", i, j, p, c.total, steps)
			}
		}
	}

	// Cancelled: the error wraps context.Canceled, promptly, and the server
	// was told.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	_, err := m.CallToolProgress(cctx, "web", mcptest.ToolSlow, map[string]any{"ms": 20000}, nil)
	if !errors.Is(err, context.Canceled) || time.Since(t0) > 2*time.Second {
		t.Fatalf("cancelled call: %v after %v", err, time.Since(t0))
	}
	// It was sent before CallToolProgress returned; over HTTP it is a POST
	// of its own, which the server may handle after the ping's.
	if !testwait.Until(2*time.Second, func() bool { return slices.Contains(s.Methods(), "notifications/cancelled") }) {
		t.Fatalf("the server got no notifications/cancelled: %q", s.Methods())
	}
}
