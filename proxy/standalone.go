package proxy

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxStandaloneFailures bounds consecutive failed attempts to (re)open the
// standalone stream before the proxy stops trying.
const maxStandaloneFailures = 5

// startStandalone opens the Streamable HTTP standalone SSE stream (GET) on s,
// once, after the session is initialized. The SDK connection opens it only
// when driven by an mcp.Client, which the proxy is not, so the proxy does it
// itself. Server-initiated messages that belong to no request
// (list_changed, for instance) arrive there. ctx is the proxy's lifetime.
func (p *proxy) startStandalone(ctx context.Context, s *session) {
	if s == nil || s.kind != ModeHTTPOnly {
		return
	}
	s.standaloneOnce.Do(func() {
		sctx := s.bind(ctx)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.standalone(ctx, sctx, s)
		}()
	})
}

// standalone keeps the standalone stream of s open, reopening it after a
// break, until s ends; ctx is the proxy's lifetime and sctx the session's.
func (p *proxy) standalone(ctx, sctx context.Context, s *session) {
	lastID := ""
	failures := 0
	for sctx.Err() == nil {
		if failures > 0 {
			t := time.NewTimer(time.Duration(failures) * 500 * time.Millisecond)
			select {
			case <-t.C:
			case <-sctx.Done():
				t.Stop()
				return
			}
		}
		req, err := http.NewRequestWithContext(sctx, http.MethodGet, p.opts.URL, nil)
		if err != nil {
			p.logf("standalone stream: %v", err)
			return
		}
		req.Header.Set("Accept", "text/event-stream")
		sid := s.conn.SessionID()
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := p.hc.Do(req)
		if err != nil {
			if sctx.Err() != nil {
				return
			}
			var se *StatusError
			if errors.As(err, &se) {
				// Refused (401/403 that OAuth could not fix): the calls on
				// the session report it; there is no standalone stream.
				p.logf("standalone stream: %v", err)
				return
			}
			failures++
			if failures > maxStandaloneFailures {
				p.logf("standalone stream: giving up after %d failures: %v", failures, err)
				return
			}
			continue
		}
		ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		switch {
		case resp.StatusCode == http.StatusNotFound && sid != "":
			drain(resp.Body)
			p.sessionLost(ctx, s)
			return
		case resp.StatusCode != http.StatusOK || ct != "text/event-stream":
			// The server offers no standalone stream (405, or a 4xx from a
			// lenient server); server-initiated messages then ride on POSTs.
			drain(resp.Body)
			return
		}
		failures = 0
		lastID = p.readEvents(sctx, s, resp, lastID)
		if sctx.Err() == nil {
			failures = 1 // reconnect after a short pause
		}
	}
}

// sessionLost re-initializes after the standalone stream found the session
// gone; ctx is the proxy's lifetime.
func (p *proxy) sessionLost(ctx context.Context, s *session) {
	if p.current() != s {
		return
	}
	if _, err := p.reinit(ctx, s, "the remote session expired (HTTP 404)"); err != nil {
		p.logf("giving up: %v", err)
	}
}

// readEvents delivers the messages of one SSE response on s, whose lifetime
// is sctx, and returns the last event ID seen.
func (p *proxy) readEvents(sctx context.Context, s *session, resp *http.Response, lastID string) string {
	defer drain(resp.Body)
	err := scanSSE(resp.Body, p.opts.MaxMessageSize, nil, func(ev sseEvent) error {
		if ev.id != "" {
			lastID = ev.id
		}
		if len(ev.data) == 0 || (ev.name != "" && ev.name != "message") {
			return nil
		}
		msg, err := decodeMessage(ev.data)
		if err != nil {
			p.logf("standalone stream: ignoring an undecodable event: %v", err)
			return nil
		}
		p.fromServer(s, msg, nil, false)
		return nil
	})
	if err != nil && sctx.Err() == nil && !errors.Is(err, mcp.ErrConnectionClosed) {
		p.logf("standalone stream interrupted: %v", err)
	}
	return lastID
}
