package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/oauth"
)

// The device authorization grant (RFC 8628) through the API: POST
// /mcp/{name}/auth/device answers with the user code once the authorization
// server issued it; the server then polls in a goroutine it owns, which
// DELETE /mcp/{name}/auth and Close cancel, and connects on success.

func (s *Server) handleDeviceAuthStart(w http.ResponseWriter, r *http.Request) {
	e, err := s.oauthEntry(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	if e.OAuth != nil {
		switch g := e.OAuth.EffectiveGrant(); g {
		case config.GrantClientCredentials, config.GrantJWTBearer:
			fail(w, errorf(http.StatusConflict, "machine_grant",
				"server %q uses the %s grant, which needs no sign-in: connect it with POST /mcp/%s/connect and it fetches a token by itself", e.Name, g, e.Name))
			return
		}
	}
	ds, err := s.startDeviceFlow(r.Context(), e)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, ds)
}

// deviceKey returns a random flowTable key for a device flow; it cannot be
// mistaken for the OAuth state of a browser flow.
func deviceKey() string { return "device:" + rand.Text() }

// startDeviceFlow starts a device authorization for entry and returns once
// the authorization server issued the user code (at most beginTimeout, or
// until ctx ends); the flow then stays pending in s.flows.
func (s *Server) startDeviceFlow(ctx context.Context, e *config.Entry) (*DeviceAuthStart, error) {
	if err := s.flows.reserve(e.Name, s.opts.MaxPendingPerServer); err != nil {
		return nil, err
	}
	base, cancelBase := s.closingContext(context.Background())
	fctx, stop := context.WithCancelCause(base)
	f := &flow{
		server: e.Name,
		state:  deviceKey(),
		device: true,
		stop: func() {
			stop(errorf(http.StatusConflict, "flow_cancelled", "the device authorization for %q was cancelled", e.Name))
		},
		done: make(chan struct{}),
	}
	started := make(chan DeviceAuthStart, 1)
	go func() {
		defer s.wg.Done() // the reservation's count
		defer cancelBase()
		s.runDeviceFlow(base, fctx, stop, e, f, started)
	}()
	t := time.NewTimer(beginTimeout)
	defer t.Stop()
	select {
	case ds := <-started:
		return &ds, nil
	case <-f.done:
		select {
		case ds := <-started: // issued, then ended at once: the events tell how
			return &ds, nil
		default:
		}
		return nil, f.err
	case <-ctx.Done():
		stop(ctx.Err())
		return nil, fmt.Errorf("starting the device authorization for %q: %w", e.Name, ctx.Err())
	case <-t.C:
		err := errorf(http.StatusGatewayTimeout, "timeout", "the authorization server did not issue a device code for %q within %s; try again, or sign in with the browser flow: POST /mcp/%s/auth", e.Name, beginTimeout, e.Name)
		stop(err)
		return nil, err
	}
}

// runDeviceFlow runs the grant under fctx (a child of ctx that stop
// cancels), keeps f pending from the moment the user code is issued (sending
// the answer on started), and ends like runFlow: it publishes the outcome
// and, on success, connects the server under ctx. It releases f's
// reservation when no code was issued.
func (s *Server) runDeviceFlow(ctx, fctx context.Context, stop context.CancelCauseFunc, e *config.Entry, f *flow, started chan<- DeviceAuthStart) {
	defer close(f.done)
	// OnDeviceCode runs in this goroutine (inside AuthenticateWith), so
	// these need no lock. It may run twice when the engine registers again.
	reserved, added := true, false
	var ttl *time.Timer
	var code oauth.DeviceCode
	var ttlEnd time.Time
	onCode := func(c oauth.DeviceCode) {
		code = c
		if reserved {
			reserved = false
			ttlEnd = time.Now().Add(s.opts.FlowTTL)
			f.expires = ttlEnd
			if added = s.flows.add(f.server, f); !added {
				stop(errShuttingDown())
				return
			}
			ttl = time.AfterFunc(s.opts.FlowTTL, func() {
				stop(errorf(http.StatusGatewayTimeout, "flow_expired", "the device authorization for %q was not completed within %s; start a new one", f.server, s.opts.FlowTTL))
			})
			s.changed()
		}
		if !added {
			return
		}
		ds := DeviceAuthStart{VerificationURI: c.VerificationURI, VerificationURIComplete: c.VerificationURIComplete, UserCode: c.UserCode, ExpiresAt: ttlEnd.UTC()}
		if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(ttlEnd) {
			ds.ExpiresAt = c.ExpiresAt.UTC()
		}
		msg := fmt.Sprintf("open %s and enter the code %s to sign in to %s", c.VerificationURI, c.UserCode, f.server)
		if c.VerificationURIComplete != "" {
			msg += fmt.Sprintf(" (or open %s, which carries the code)", c.VerificationURIComplete)
		}
		s.events.Publish(Event{Type: EventFlow, Server: f.server, Flow: &FlowEvent{Phase: FlowStarted, UserCode: c.UserCode,
			VerificationURI: c.VerificationURI, VerificationURIComplete: c.VerificationURIComplete, Message: msg}})
		select {
		case started <- ds:
		default: // a second code: the answer is gone, the event tells it
		}
	}
	_, err := s.eng.AuthenticateWith(fctx, e, oauth.AuthOptions{Device: true, OnDeviceCode: onCode})
	if ttl != nil {
		ttl.Stop()
	}
	cancelled, cause := fctx.Err() != nil, context.Cause(fctx)
	stop(nil)
	if reserved {
		s.flows.add(f.server, nil)
	}
	if !added {
		switch {
		case err == nil:
			err = errorf(http.StatusInternalServerError, "internal", "the sign-in to %q finished without a device code", f.server)
		case errors.Is(err, oauth.ErrDeviceNotSupported):
			err = deviceNotSupported(f.server, err)
		case cancelled && cause != nil:
			err = fmt.Errorf("starting the device authorization for %q: %w", f.server, cause)
		default:
			err = fmt.Errorf("starting the device authorization for %q: %w", f.server, err)
		}
		f.err = err
		return
	}
	s.flows.remove(f)
	s.changed()
	ev := FlowEvent{UserCode: code.UserCode}
	if err == nil {
		s.flowSucceeded(ctx, f, ev)
		return
	}
	phase := FlowFailed
	var ae *apiError
	switch {
	case cancelled && errors.As(cause, &ae): // FlowTTL, DELETE or shutdown
		err = ae
		phase = FlowCancelled
		if ae.code == "flow_expired" {
			phase = FlowExpired
		}
	case cancelled: // Close
		phase = FlowCancelled
		err = errorf(http.StatusConflict, "flow_cancelled", "the device authorization for %q was cancelled", f.server)
	case errors.Is(err, oauth.ErrDeviceCodeExpired), errors.Is(err, context.DeadlineExceeded):
		phase = FlowExpired
		err = errorf(http.StatusGatewayTimeout, "flow_expired", "the device code for %q expired before the sign-in was completed; start a new one", f.server)
	}
	s.flowFailed(f, phase, err, ev)
}

// deviceNotSupported is the answer when the authorization server of server
// has no device_authorization_endpoint; err is the engine's error.
func deviceNotSupported(server string, err error) error {
	return errorf(http.StatusBadRequest, "device_not_supported",
		"%v: POST /mcp/%s/auth (or POST /mcp/%s/auth/authenticate to open a browser on the API's machine)", err, server, server)
}
