package callback

import (
	"context"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mcplink/mcplink/internal/termtext"
)

// handler serves one listener: the callback paths of its flows and the probe.
type handler struct {
	r *Registry
	l *listener
}

type probeReply struct {
	Mcplink bool `json:"mcplink"`
	PID     int  `json:"pid"`
}

// page is what the browser shows. Fields are escaped by html/template; the
// code and state are never among them.
type page struct {
	Title   string
	Heading string
	Message string
	Detail  string // AS error and description, if any
	OK      bool
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}
h1{font-size:1.4em;color:{{if .OK}}#17692f{{else}}#a3161b{{end}}}pre{white-space:pre-wrap;background:#f4f4f4;padding:.8em;border-radius:4px}</style>
</head><body><h1>{{.Heading}}</h1><p>{{.Message}}</p>{{if .Detail}}<pre>{{.Detail}}</pre>{{end}}<p><small>mcplink</small></p></body></html>
`))

func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

func writePage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	setPageHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, p)
	// Push the page out before the flow is marked done, so a listener that
	// stops right after still delivers the whole response.
	_ = http.NewResponseController(w).Flush()
}

func serverLabel(name string) string {
	if name == "" {
		return "the MCP server"
	}
	return name
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	path := req.URL.Path
	if path == ProbePath {
		h.serveProbe(w, req)
		return
	}
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writePage(w, http.StatusMethodNotAllowed, page{
			Title: "Method not allowed", Heading: "Method not allowed",
			Message: "This mcplink sign-in address only accepts GET requests from your browser.",
		})
		return
	}
	r := h.r
	r.mu.Lock()
	known := h.l.paths[path]
	r.mu.Unlock()
	if !known {
		writePage(w, http.StatusNotFound, page{
			Title: "Not found", Heading: "Not found",
			Message: "This address is not an mcplink sign-in callback.",
		})
		return
	}

	q := req.URL.Query()
	state := q.Get("state")
	r.mu.Lock()
	f := r.flows[state]
	// The flow must be one listening on this port (h.l, or the listener
	// that replaced it while a browser's kept-alive connection to h.l was
	// still open) and path.
	if state == "" || len(q["state"]) != 1 || f == nil || f.l == nil || f.l.port != h.l.port || f.path != path || f.claimed || f.finished {
		r.mu.Unlock()
		writePage(w, http.StatusBadRequest, page{
			Title: "Unknown sign-in request", Heading: "Unknown or finished sign-in request",
			Message: "This sign-in request is unknown or already finished. It may belong to another mcplink process, or it was already completed. If you are still signing in, start the sign-in again from mcplink.",
		})
		return
	}
	if aerr := authorizationError(q); aerr != nil {
		f.claimed = true
		r.mu.Unlock()
		detail := aerr.Code
		if aerr.Description != "" {
			detail += ": " + aerr.Description
		}
		writePage(w, http.StatusOK, page{
			Title: "Sign-in failed", Heading: "Sign-in to " + serverLabel(f.server) + " failed",
			Message: "The authorization server returned an error. Return to mcplink for details; you can close this tab.",
			// html/template escapes markup; controls (which a page shows as
			// boxes or hides) are dropped too, like on a terminal.
			Detail: termtext.Clean(detail),
		})
		r.mu.Lock()
		r.finishLocked(f, nil, aerr)
		r.mu.Unlock()
		return
	}
	if len(q["code"]) != 1 || q.Get("code") == "" {
		notify := f.notify
		server := f.server
		r.mu.Unlock()
		if notify != nil {
			notify("OAuth callback for " + serverLabel(server) + " arrived without an authorization code; still waiting for a valid one…")
		}
		writePage(w, http.StatusBadRequest, page{
			Title: "Missing authorization code", Heading: "Missing authorization code",
			Message: "The sign-in response for " + serverLabel(server) + " carries no authorization code, so mcplink cannot finish signing in. Start the sign-in again from mcplink.",
		})
		return
	}
	// Hand the code to the flow's owner at once; the page waits for its
	// report of the token exchange (result.go), holding the listener.
	f.claimed = true
	r.endLocked(f, q, nil)
	r.mu.Unlock()
	h.writeResult(w, req, f)
}

func (h *handler) serveProbe(w http.ResponseWriter, req *http.Request) {
	setPageHeaders(w.Header())
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(probeReply{Mcplink: true, PID: h.r.pid})
}

// probeHolder asks whoever listens on addr for the mcplink probe and reports
// the holder's pid if it is an mcplink callback listener.
func probeHolder(ctx context.Context, addr string, timeout time.Duration) (int, bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := url.URL{Scheme: "http", Host: addr, Path: ProbePath}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, false
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	var pr probeReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&pr); err != nil || !pr.Mcplink || pr.PID <= 0 {
		return 0, false
	}
	return pr.PID, true
}
