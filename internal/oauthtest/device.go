package oauthtest

import (
	"crypto/rand"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

// GrantDeviceCode is the RFC 8628 device authorization grant type.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// deviceRequest is a pending RFC 8628 authorization.
type deviceRequest struct {
	clientID string
	userCode string
	scopes   []string
	resource string
	expiry   time.Time
	interval time.Duration
	lastPoll time.Time
	approved bool
	denied   bool
	redeemed bool
}

// DeviceAuthorizationEndpoint returns the RFC 8628 endpoint URL.
func (s *Server) DeviceAuthorizationEndpoint() string { return s.IssuerURL + "/device_authorization" }

// DeviceVerificationURI returns the verification URI users open.
func (s *Server) DeviceVerificationURI() string { return s.IssuerURL + "/device" }

func (s *Server) deviceInterval() time.Duration {
	if s.opts.DeviceInterval > 0 {
		return s.opts.DeviceInterval.Round(time.Second)
	}
	return time.Second
}

// userCode is 8 characters from an alphabet without look-alikes, as XXXX-XXXX.
func userCode() string {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, alphabet[int(c)%len(alphabet)])
	}
	return string(out)
}

func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	f, e := parseTokenForm(w, r)
	if e != nil {
		e.write(w)
		return
	}
	c, _, e := s.authenticateClient(r, f)
	if e != nil {
		e.write(w)
		return
	}
	if !slices.Contains(c.GrantTypes, GrantDeviceCode) {
		newError("unauthorized_client", "client is not registered for the device_code grant").write(w)
		return
	}
	if e := s.checkResource(f["resource"]); e != nil {
		e.write(w)
		return
	}
	scopes, e := s.parseScope(f["scope"], s.opts.Scopes, s.opts.DefaultScopes)
	if e != nil {
		e.write(w)
		return
	}
	lifetime := s.opts.DeviceCodeLifetime
	if lifetime <= 0 {
		lifetime = 5 * time.Minute
	}
	dc := randomToken("dev-")
	req := &deviceRequest{
		clientID: c.ClientID, userCode: userCode(), scopes: scopes, resource: f["resource"],
		expiry: time.Now().Add(lifetime), interval: s.deviceInterval(),
	}
	s.mu.Lock()
	s.devices[dc] = req
	s.stats.DeviceAuthorizations++
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               dc,
		"user_code":                 req.userCode,
		"verification_uri":          s.DeviceVerificationURI(),
		"verification_uri_complete": s.DeviceVerificationURI() + "?user_code=" + req.userCode,
		"expires_in":                int64(lifetime.Round(time.Second) / time.Second),
		"interval":                  int64(req.interval / time.Second),
	})
}

// findDeviceLocked returns the pending request with userCode.
func (s *Server) findDeviceLocked(code string) *deviceRequest {
	code = strings.ToUpper(strings.TrimSpace(code))
	for _, d := range s.devices {
		if d.userCode == code && !d.redeemed && time.Now().Before(d.expiry) {
			return d
		}
	}
	return nil
}

// ApproveDevice approves the pending device request with userCode, as a user
// entering it on the verification page does. It reports whether one was found.
func (s *Server) ApproveDevice(userCode string) bool { return s.decideDevice(userCode, true) }

// DenyDevice denies the pending device request with userCode.
func (s *Server) DenyDevice(userCode string) bool { return s.decideDevice(userCode, false) }

func (s *Server) decideDevice(code string, approve bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.findDeviceLocked(code)
	if d == nil || d.approved || d.denied {
		return false
	}
	d.approved, d.denied = approve, !approve
	return true
}

var devicePage = template.Must(template.New("device").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Device sign-in</title></head><body>
<h1>{{.Heading}}</h1>{{if .Form}}<form method="post" action="{{.Action}}">
<input name="user_code" value="{{.Code}}"><button name="action" value="approve">Approve</button>
<button name="action" value="deny">Deny</button></form>{{end}}</body></html>
`))

// handleDeviceVerification is the verification URI: GET with user_code
// approves at once (or shows Approve/Deny with ConsentPage); POST decides.
func (s *Server) handleDeviceVerification(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "malformed form")
		return
	}
	code := r.Form.Get("user_code")
	type pageData struct {
		Heading, Action, Code string
		Form                  bool
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if code == "" || (r.Method == http.MethodGet && s.opts.ConsentPage) {
		_ = devicePage.Execute(w, pageData{Heading: "Enter the code shown by the device", Action: s.opts.IssuerPath + "/device", Code: code, Form: true})
		return
	}
	approve := r.Method == http.MethodGet || r.PostForm.Get("action") == "approve"
	if !s.decideDevice(code, approve) {
		errorPage(w, http.StatusBadRequest, "unknown, expired or already used user code")
		return
	}
	heading := "Device approved; return to your device"
	if !approve {
		heading = "Device request denied"
	}
	_ = devicePage.Execute(w, pageData{Heading: heading})
}

// grantDevice is the device_code grant (RFC 8628 §3.4-3.5).
func (s *Server) grantDevice(c *Client, f map[string]string, jkt string) (*tokenResponse, *oauthError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.DevicePolls++
	if !slices.Contains(c.GrantTypes, GrantDeviceCode) {
		return nil, newError("unauthorized_client", "client is not registered for the device_code grant")
	}
	d, ok := s.devices[f["device_code"]]
	if !ok || d.clientID != c.ClientID || d.redeemed {
		return nil, newError("invalid_grant", "unknown or used device_code")
	}
	now := time.Now()
	if now.After(d.expiry) {
		return nil, newError("expired_token", "the device code expired")
	}
	if f["resource"] != "" && d.resource != "" && f["resource"] != d.resource {
		return nil, newError("invalid_target", "resource differs from the device authorization request")
	}
	if d.denied {
		delete(s.devices, f["device_code"])
		return nil, newError("access_denied", "the user denied the request")
	}
	// Polling faster than the interval (with 100 ms of slack) earns slow_down.
	if !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < d.interval-100*time.Millisecond {
		d.lastPoll = now
		d.interval += 5 * time.Second
		s.stats.DeviceSlowDowns++
		return nil, newError("slow_down", "polling too fast")
	}
	d.lastPoll = now
	if !d.approved {
		return nil, newError("authorization_pending", "the user has not approved yet")
	}
	d.redeemed = true
	return s.issueLocked(c, d.scopes, d.scopes, d.resource, randomToken("fam-"), true, jkt), nil
}
