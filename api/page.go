package api

import (
	_ "embed"
	"html/template"
	"net/http"
	"strings"
)

//go:embed page.html
var pageHTML string

//go:embed app.js
var appJS []byte

//go:embed openapi.json
var openAPIJSON []byte

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// pageRow is one server on the status page.
type pageRow struct {
	ServerStatus
	CanAuth   bool
	AuthState string
}

const pageCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	var rows []pageRow
	for _, st := range s.m.States() {
		ss := s.status(r.Context(), st)
		row := pageRow{ServerStatus: ss, CanAuth: ss.Auth != nil}
		if ss.Auth != nil {
			row.AuthState = strings.ReplaceAll(ss.Auth.State, "_", " ")
		}
		rows = append(rows, row)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	var b strings.Builder
	if err := pageTmpl.Execute(&b, struct{ Servers []pageRow }{rows}); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "rendering the status page: "+err.Error())
		return
	}
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) handleAppJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(appJS)
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIJSON)
}
