package oauth

import (
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
)

// TestDeviceFlowOnDeviceCode: AuthOptions.OnDeviceCode receives the code the
// AS issued (the same one Notify announces) before polling, and approving it
// completes the sign-in.
func TestDeviceFlowOnDeviceCode(t *testing.T) {
	s, v := deviceEnv(t, oauthtest.Options{DeviceCodeLifetime: 7 * time.Minute})
	entry := testEntry(t, s.MCPURL)
	got := make(chan DeviceCode, 2)
	approved := make(chan bool, 1)
	before := v.clock.Now()
	_, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Device: true, OnDeviceCode: func(dc DeviceCode) {
		got <- dc
		go func() { approved <- s.ApproveDevice(dc.UserCode) }()
	}})
	if err != nil {
		t.Fatalf("device flow: %v\n%s", err, v.notes.all())
	}
	if len(got) != 1 {
		t.Fatalf("OnDeviceCode called %d times, want 1", len(got))
	}
	dc := <-got
	if !<-approved {
		t.Fatalf("the AS knows no pending request with user code %q", dc.UserCode)
	}
	if dc.VerificationURI != s.DeviceVerificationURI() || dc.VerificationURIComplete != s.DeviceVerificationURI()+"?user_code="+dc.UserCode {
		t.Errorf("device code = %+v", dc)
	}
	if m := userCodeRE.FindStringSubmatch(v.notes.all()); m == nil || m[1] != dc.UserCode || m[2] != dc.VerificationURIComplete {
		t.Errorf("Notify no longer announces the same code %q:\n%s", dc.UserCode, v.notes.all())
	}
	if want := before.Add(7 * time.Minute); dc.ExpiresAt.Sub(want).Abs() > 2*time.Second {
		t.Errorf("ExpiresAt = %v, want about %v", dc.ExpiresAt, want)
	}
	if !strings.Contains(v.notes.all(), "signed in") {
		t.Errorf("no sign-in notice:\n%s", v.notes.all())
	}
}
