//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package authstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"

	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

// Keyring tests that need a particular D-Bus environment run in a re-exec'd
// test binary (go-keyring reads DBUS_SESSION_BUS_ADDRESS from the process
// environment), so this process's environment is never changed. The child
// runs exactly one test, named in childTestEnv; that test skips itself in
// any other process.
const childTestEnv = "AUTHSTORE_KEYRING_CHILD_TEST"

const dbusEnv = "DBUS_SESSION_BUS_ADDRESS"

// inChild skips t unless this process was started by runChildTest for t.
func inChild(t *testing.T) {
	t.Helper()
	if os.Getenv(childTestEnv) != t.Name() {
		t.Skipf("runs only in the subprocess that the parent test starts with %s set", dbusEnv)
	}
}

// runChildTest runs test name in a re-exec'd test binary with env added
// (and this process's D-Bus address removed) and fails t unless it passed
// without skipping.
func runChildTest(t *testing.T, name string, env ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	// From scratch (no D-Bus address of this process's, no store choice):
	// the child sees only the bus env gives it.
	cmd.Env = testenv.Env(t, append([]string{"MCPLINK_CREDENTIALS_STORE=", childTestEnv + "=" + name}, env...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("child %s output:\n%s", name, out)
	if err != nil {
		t.Fatalf("child %s failed: %v", name, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+name+" ") || strings.Contains(string(out), "--- SKIP") {
		t.Fatalf("child %s did not run to a pass", name)
	}
}

// skipOrFail skips when the environment cannot run the test, unless $CI is
// set: there the packages are installed and the test must run.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "" {
		t.Skip(reason + " (set CI=1 to make this a failure)")
	}
	t.Fatal(reason + " (CI is set, so the keyring test must run: apt-get install -y dbus-daemon gnome-keyring)")
}

// startSecretService starts a private dbus-daemon and an unlocked
// gnome-keyring-daemon (secrets component only) on it, both stopped when t
// ends, and returns the bus address.
func startSecretService(t testing.TB) string {
	t.Helper()
	gkBin, err := exec.LookPath("gnome-keyring-daemon")
	if err != nil {
		skipOrFail(t, "gnome-keyring-daemon is needed for a real Secret Service: "+err.Error())
	}
	addr := startBus(t)
	dir, err := os.MkdirTemp("", "mcplink-gk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	rt := filepath.Join(dir, "rt")
	if err := os.Mkdir(rt, 0o700); err != nil {
		t.Fatal(err)
	}

	gk := exec.Command(gkBin, "--foreground", "--unlock", "--components=secrets")
	gk.Env = testenv.Env(t,
		dbusEnv+"="+addr,
		"HOME="+dir,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_RUNTIME_DIR="+rt,
	)
	gk.Stdin = strings.NewReader("test-keyring-password")
	var gkOut strings.Builder
	gk.Stdout, gk.Stderr = &gkOut, &gkOut
	if err := gk.Start(); err != nil {
		skipOrFail(t, "cannot start gnome-keyring-daemon: "+err.Error())
	}
	t.Cleanup(func() { _ = gk.Process.Kill(); _ = gk.Wait() })

	// Ready when the unlocked login collection is on the bus.
	if !testwait.Until(15*time.Second, func() bool { err = checkLoginCollection(addr); return err == nil }) {
		skipOrFail(t, fmt.Sprintf("gnome-keyring-daemon did not come up: %v; output: %s", err, gkOut.String()))
	}
	return addr
}

// checkLoginCollection reports whether the Secret Service at addr has an
// unlocked login collection.
func checkLoginCollection(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return err
	}
	defer conn.Close()
	var locked dbus.Variant
	err = conn.Object(secretsName, loginCollection).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, secretsCollection, "Locked").Store(&locked)
	if err != nil {
		return err
	}
	if b, _ := locked.Value().(bool); b {
		return errors.New("login collection is locked")
	}
	return nil
}

// lockLoginCollection locks the login collection, as a screen lock would.
func lockLoginCollection(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dbus.Connect(os.Getenv(dbusEnv), dbus.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	if err := conn.Object(secretsName, secretsPath).CallWithContext(ctx, secretsService+".Lock", 0, []dbus.ObjectPath{loginCollection}).Store(&locked, &prompt); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(locked, loginCollection) {
		t.Fatalf("login collection not locked (locked %v, prompt %s)", locked, prompt)
	}
}

func randomService(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "mcplink-test-" + hex.EncodeToString(b[:])
}

func secretCreds(url, secret string) *Credentials {
	return &Credentials{
		ServerURL: url,
		Issuer:    "https://as.example",
		Client:    &Client{ClientID: "cid", ClientSecret: "cs-" + secret, Dynamic: true},
		Token:     &Token{AccessToken: "at-" + secret, RefreshToken: "rt-" + secret, TokenType: "Bearer", Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

// assertNoSecretInDir fails if any file under dir contains secret.
func assertNoSecretInDir(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), secret) {
			t.Errorf("secret found in file %s: the keyring backend must not write credentials to disk", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKeyringSecretService runs the keyring store against a real Secret
// Service (gnome-keyring on a private D-Bus session bus).
func TestKeyringSecretService(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service test needs Linux (gnome-keyring)")
	}
	addr := startSecretService(t)
	runChildTest(t, "TestKeyringSession", dbusEnv+"="+addr)
}

// TestKeyringSession is the child half of TestKeyringSecretService.
func TestKeyringSession(t *testing.T) {
	inChild(t)
	ctx := context.Background()
	service := randomService(t)
	t.Cleanup(func() { _ = keyring.DeleteAll(service) })

	t.Run("RoundTrip", func(t *testing.T) {
		dir := t.TempDir()
		n := &notices{}
		st, err := Open(OpenOptions{Mode: "keyring", Dir: dir, Service: service, Notify: n.add})
		if err != nil {
			t.Fatalf("Open keyring: %v", err)
		}
		s, ok := st.(*KeyringStore)
		if !ok {
			t.Fatalf("Open returned %T, want *KeyringStore", st)
		}
		if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load on empty keyring: %v, want ErrNotFound", err)
		}
		const secret = "Sup3rS3cretRoundTrip"
		want := secretCreds("https://a.example/mcp", secret)
		if err := s.Update(ctx, "a", put(want)); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, "b", put(&Credentials{ServerURL: "https://b.example/mcp"})); err != nil {
			t.Fatal(err)
		}
		// A fresh store (as another process would open it) sees the data.
		s2, err := NewKeyringStore(KeyringOptions{Dir: dir, Service: service})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s2.Load(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if got.UpdatedAt.IsZero() {
			t.Error("UpdatedAt not set")
		}
		got.UpdatedAt = time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if !got.ForURL("https://a.example/mcp") || got.ForURL("https://a.example/mcp/") {
			t.Error("same-URL rule broken after a keyring round trip")
		}
		all, err := s2.List(ctx)
		if err != nil || len(all) != 2 {
			t.Fatalf("List = %d entries, %v; want 2", len(all), err)
		}
		// The data really is in the Secret Service, under the documented item.
		raw, err := keyring.Get(service, "credentials@"+dir)
		if err != nil || !strings.Contains(raw, "at-"+secret) {
			t.Fatalf("keyring item: err %v, contains token %v", err, strings.Contains(raw, "at-"+secret))
		}
		assertNoSecretInDir(t, dir, secret)
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Load(ctx, "a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load after Delete: %v", err)
		}
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatalf("deleting an absent entry: %v", err)
		}
		if len(n.all()) != 0 {
			t.Errorf("unexpected notices: %q", n.all())
		}
	})

	t.Run("AutoPicksKeyring", func(t *testing.T) {
		n := &notices{}
		st, err := Open(OpenOptions{Dir: t.TempDir(), Service: service, Notify: n.add})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.(*KeyringStore); !ok {
			t.Fatalf("auto mode with a working keyring returned %T", st)
		}
		if len(n.all()) != 0 {
			t.Errorf("unexpected notices: %q", n.all())
		}
	})

	t.Run("Chunked", func(t *testing.T) {
		dir := t.TempDir()
		s, err := NewKeyringStore(KeyringOptions{Dir: dir, Service: service, chunkSize: 700})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			name := "s" + strconv.Itoa(i)
			if err := s.Update(ctx, name, put(secretCreds("https://"+name, pad[:500]+name))); err != nil {
				t.Fatal(err)
			}
		}
		user := "credentials@" + dir
		head, err := keyring.Get(service, user)
		if err != nil || !strings.Contains(head, `"chunks"`) || strings.Contains(head, pad[:500]) {
			t.Fatalf("head item should reference chunks (err %v): %.200s", err, head)
		}
		s2, _ := NewKeyringStore(KeyringOptions{Dir: dir, Service: service, chunkSize: 700})
		all, err := s2.List(ctx)
		if err != nil || len(all) != 5 {
			t.Fatalf("List = %d, %v", len(all), err)
		}
		for name, c := range all {
			if c.Token.AccessToken != "at-"+pad[:500]+name {
				t.Errorf("entry %s corrupted through chunks", name)
			}
		}
		// Shrinking back to one item removes every chunk item.
		for i := range 5 {
			if err := s.Delete(ctx, "s"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, slot := range []string{"a", "b"} {
			for i := range 12 {
				if _, err := keyring.Get(service, user+"."+slot+"."+strconv.Itoa(i)); !errors.Is(err, keyring.ErrNotFound) {
					t.Errorf("chunk %s.%d left behind (err %v)", slot, i, err)
				}
			}
		}
	})

	t.Run("CorruptItem", func(t *testing.T) {
		dir := t.TempDir()
		user := "credentials@" + dir
		const secret = "CorruptS3cret"
		if err := keyring.Set(service, user, `{"format":1,"doc":{"version":1,"servers":{"x":"`+secret); err != nil {
			t.Fatal(err)
		}
		n := &notices{}
		s, _ := NewKeyringStore(KeyringOptions{Dir: dir, Service: service, Notify: n.add})
		_, err := s.Load(ctx, "x")
		if !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), secret) {
			t.Fatalf("Load of corrupt item: %v (want ErrCorrupt without contents)", err)
		}
		if err := s.Update(ctx, "y", put(&Credentials{ServerURL: "https://y"})); err != nil {
			t.Fatal(err)
		}
		msgs := n.all()
		if len(msgs) != 1 || !strings.Contains(msgs[0], "corrupt") || strings.Contains(msgs[0], secret) {
			t.Fatalf("notices %q", msgs)
		}
		if _, err := s.Load(ctx, "y"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ConcurrentProcesses", func(t *testing.T) {
		const procs, rounds = 6, 3
		dir := t.TempDir()
		// This runs in the child runChildTest started: its bus is the
		// test's own Secret Service, which the helpers share.
		runRounds(t, "keyring-rmw", dir, procs, rounds, dbusEnv+"="+os.Getenv(dbusEnv), serviceEnv+"="+service)
		if t.Failed() {
			return
		}
		s, _ := NewKeyringStore(KeyringOptions{Dir: dir, Service: service})
		all, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := procs*rounds + procs + 1; len(all) != want {
			t.Errorf("%d entries, want %d", len(all), want)
		}
		for i := range procs {
			for r := range rounds {
				name := fmt.Sprintf("p%d-r%d", i, r)
				if c := all[name]; c == nil || c.ServerURL != "https://"+name || c.Token.AccessToken != pad {
					t.Errorf("entry %s lost or wrong", name)
				}
			}
			if got := counterOf(all["p"+strconv.Itoa(i)]); got != rounds {
				t.Errorf("p%d counter = %d, want %d", i, got, rounds)
			}
		}
		if got := counterOf(all["shared"]); got != procs*rounds {
			t.Errorf("shared counter = %d, want %d (lost read-modify-write)", got, procs*rounds)
		}
	})

	// Last: the keyring stays locked afterwards.
	t.Run("Locked", func(t *testing.T) {
		dir := t.TempDir()
		const secret = "LockedS3cret"
		s, err := NewKeyringStore(KeyringOptions{Dir: dir, Service: service, OpTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		lockLoginCollection(t)

		n := &notices{}
		began := time.Now()
		st, err := Open(OpenOptions{Dir: dir, Service: service, Notify: n.add, ProbeTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.(*FileStore); !ok {
			t.Fatalf("auto mode with a locked keyring returned %T, want *FileStore", st)
		}
		if el := time.Since(began); el > 2*time.Second {
			t.Errorf("fallback took %v", el)
		}
		msgs := n.all()
		if len(msgs) != 1 || !strings.Contains(msgs[0], "locked") || !strings.Contains(msgs[0], "credentials.json") || strings.Contains(msgs[0], "\n") {
			t.Errorf("want one one-line notice about the locked keyring and the file, got %q", msgs)
		}

		_, err = Open(OpenOptions{Mode: "keyring", Dir: dir, Service: service, ProbeTimeout: 2 * time.Second})
		if !errors.Is(err, ErrKeyringLocked) || !errors.Is(err, ErrKeyringUnavailable) || !strings.Contains(err.Error(), EnvCredentialsStore+"=file") || !strings.Contains(err.Error(), "unlock") {
			t.Errorf("keyring mode with a locked keyring: %v", err)
		}

		// A store opened before the lock fails within its timeout, and the
		// error does not carry the secret it was asked to store.
		began = time.Now()
		err = s.Update(ctx, "a", put(secretCreds("https://a", secret)))
		if err == nil {
			t.Fatal("Update into a locked keyring succeeded")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error contains the secret: %v", err)
		}
		if !errors.Is(err, ErrKeyringLocked) || !strings.Contains(err.Error(), EnvCredentialsStore+"=file") {
			t.Errorf("a write into a locked keyring should say it is locked and name the fix: %v", err)
		}
		if el := time.Since(began); el > 2*time.Second+abortGrace+time.Second {
			t.Errorf("Update against a locked keyring took %v", el)
		}
		t.Logf("update into locked keyring: %v after %v", err, time.Since(began))
	})
}

// TestKeyringNoSessionBus: with DBUS_SESSION_BUS_ADDRESS pointing at a
// socket that does not exist, auto falls back to the file with one notice
// well within the probe timeout, and keyring mode fails naming the fix.
func TestKeyringNoSessionBus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("D-Bus session bus addresses are a Linux concern")
	}
	runChildTest(t, "TestKeyringNoSessionBusChild", dbusEnv+"=unix:path="+filepath.Join(t.TempDir(), "no-such-socket"))
}

func TestKeyringNoSessionBusChild(t *testing.T) {
	inChild(t)
	testFallback(t, 3*time.Second, 2*time.Second)
}

// TestKeyringProbeTimeout: a session bus socket that accepts connections but
// never answers (a real listener owned by this test) makes the probe time
// out; Open still returns within the timeout and the probe's goroutines end.
func TestKeyringProbeTimeout(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("D-Bus session bus addresses are a Linux concern")
	}
	dir, err := os.MkdirTemp("", "mcplink-hang-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 16)
	acceptDone := make(chan struct{})
	go func() { // ends when ln is closed
		defer close(acceptDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c: // keep it open, say nothing
			default:
				c.Close()
			}
		}
	}()
	defer func() {
		ln.Close()
		<-acceptDone
		close(held)
		for c := range held {
			c.Close()
		}
	}()
	runChildTest(t, "TestKeyringProbeTimeoutChild", dbusEnv+"=unix:path="+sock)
}

func TestKeyringProbeTimeoutChild(t *testing.T) {
	inChild(t)
	base := runtime.NumGoroutine()
	testFallback(t, 400*time.Millisecond, 400*time.Millisecond+500*time.Millisecond)
	if !testwait.Until(3*time.Second, func() bool { return runtime.NumGoroutine() <= base }) {
		n := runtime.NumGoroutine()
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left after the probe (was %d):\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// testFallback checks auto and keyring mode when the keyring is unreachable.
func testFallback(t *testing.T, probe, within time.Duration) {
	t.Helper()
	dir := t.TempDir()
	n := &notices{}
	began := time.Now()
	st, err := Open(OpenOptions{Mode: "auto", Dir: dir, Notify: n.add, ProbeTimeout: probe})
	elapsed := time.Since(began)
	if err != nil {
		t.Fatalf("auto: %v", err)
	}
	fsStore, ok := st.(*FileStore)
	if !ok {
		t.Fatalf("auto without a keyring returned %T, want *FileStore", st)
	}
	if elapsed > within {
		t.Errorf("auto fallback took %v, want under %v", elapsed, within)
	}
	msgs := n.all()
	if len(msgs) != 1 || strings.Contains(msgs[0], "\n") || !strings.Contains(msgs[0], fsStore.Path()) || !strings.Contains(msgs[0], "keyring") {
		t.Errorf("want one one-line notice naming the keyring and %s, got %q", fsStore.Path(), msgs)
	}
	t.Logf("auto fell back after %v: %s", elapsed, msgs)

	// The fallback store works, and keeps being used (no probe, no notice)
	// once it holds credentials.
	const secret = "FallbackS3cret"
	if err := st.Update(context.Background(), "a", put(secretCreds("https://a", secret))); err != nil {
		t.Fatal(err)
	}
	n2 := &notices{}
	began = time.Now()
	st2, err := Open(OpenOptions{Dir: dir, Notify: n2.add, ProbeTimeout: probe})
	if _, ok := st2.(*FileStore); err != nil || !ok || len(n2.all()) != 0 || time.Since(began) > probe/2 {
		t.Errorf("auto with a populated file: %T, %v, notices %q, %v", st2, err, n2.all(), time.Since(began))
	}

	began = time.Now()
	_, err = Open(OpenOptions{Mode: "keyring", Dir: dir, Notify: n.add, ProbeTimeout: probe})
	elapsed = time.Since(began)
	if !errors.Is(err, ErrKeyringUnavailable) || errors.Is(err, ErrKeyringLocked) {
		t.Fatalf("keyring mode: %v, want ErrKeyringUnavailable", err)
	}
	for _, want := range []string{EnvCredentialsStore + "=file", "Secret Service", "DBUS_SESSION_BUS_ADDRESS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("keyring mode error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error contains a secret: %v", err)
	}
	if elapsed > within {
		t.Errorf("keyring mode failure took %v, want under %v", elapsed, within)
	}
	t.Logf("keyring mode error after %v: %v", elapsed, err)
}

// hangingSecretService is a Secret Service that looks healthy to the probe's
// preflight (present, login collection unlocked) but never answers Unlock,
// the first call go-keyring makes: the shape of a keyring daemon that hangs
// mid-operation. Its blocked handlers are released when the test ends.
//
// The first Unlock call blocks; later ones answer with a prompt whose Prompt
// call succeeds but which never completes, so go-keyring waits for the
// Completed signal forever.
type hangingSecretService struct {
	release chan struct{}
	calls   atomic.Int32
}

const hangingPrompt = dbus.ObjectPath("/org/freedesktop/secrets/prompt/p1")

// Prompt is org.freedesktop.Secret.Prompt.Prompt: accepted, never completed.
func (h *hangingSecretService) Prompt(windowID string) *dbus.Error { return nil }

func (h *hangingSecretService) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	switch iface + "." + prop {
	case secretsService + ".Collections":
		return dbus.MakeVariant([]dbus.ObjectPath{loginCollection}), nil
	case secretsCollection + ".Locked":
		return dbus.MakeVariant(false), nil
	}
	return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{prop})
}

func (h *hangingSecretService) Unlock(objects []dbus.ObjectPath) ([]dbus.ObjectPath, dbus.ObjectPath, *dbus.Error) {
	if h.calls.Add(1) > 1 {
		return nil, hangingPrompt, nil
	}
	<-h.release
	return nil, "/", dbus.NewError("org.freedesktop.DBus.Error.Failed", []any{"released"})
}

// busConfig is a session bus without service activation: nothing on the
// test bus starts unless the test starts it (the system's activatable
// gnome-keyring would otherwise race the test's own daemon).
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// startBus starts a private dbus-daemon owned by t and returns its address.
func startBus(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		skipOrFail(t, "dbus-daemon is needed for a private session bus: "+err.Error())
	}
	// A short directory: unix socket paths are limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "mcplink-bus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(busConfig, sock)), 0o600); err != nil {
		t.Fatal(err)
	}
	bus := exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile")
	bus.Env = testenv.Env(t)
	var out strings.Builder
	bus.Stdout, bus.Stderr = &out, &out
	if err := bus.Start(); err != nil {
		skipOrFail(t, "cannot start dbus-daemon: "+err.Error())
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	addr := "unix:path=" + sock
	if !testwait.Until(10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var conn *dbus.Conn
		if conn, err = dbus.Connect(addr, dbus.WithContext(ctx)); err == nil {
			conn.Close()
		}
		return err == nil
	}) {
		skipOrFail(t, fmt.Sprintf("private dbus-daemon did not come up: %v; output: %s", err, &out))
	}
	return addr
}

// TestKeyringCallTimeout: when the keyring hangs after the preflight passed,
// Open gives up within the probe timeout, and aborting the call ends its
// goroutine (the child checks the goroutine count).
func TestKeyringCallTimeout(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a D-Bus session bus (Linux)")
	}
	addr := startBus(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &hangingSecretService{release: make(chan struct{})}
	t.Cleanup(func() { close(h.release); conn.Close() })
	for _, p := range []dbus.ObjectPath{secretsPath, loginCollection} {
		if err := conn.Export(h, p, "org.freedesktop.DBus.Properties"); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Export(h, hangingPrompt, "org.freedesktop.Secret.Prompt"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(h, secretsPath, secretsService); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(secretsName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v, %v", reply, err)
	}
	runChildTest(t, "TestKeyringCallTimeoutChild", dbusEnv+"="+addr)
}

func TestKeyringCallTimeoutChild(t *testing.T) {
	inChild(t)
	const probe = 500 * time.Millisecond
	base := runtime.NumGoroutine()
	// Round 0 hangs in a D-Bus call, round 1 in go-keyring's wait for a
	// prompt (the abort makes go-keyring panic there; the panic is
	// recovered). Round 1 also proves go-keyring reconnects after an abort.
	for i := range 2 {
		began := time.Now()
		_, err := Open(OpenOptions{Mode: "keyring", Dir: t.TempDir(), ProbeTimeout: probe})
		elapsed := time.Since(began)
		if !errors.Is(err, ErrKeyringUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("round %d: keyring mode against a hanging keyring: %v", i, err)
		}
		if elapsed > probe+abortGrace {
			t.Errorf("round %d: took %v", i, elapsed)
		}
		t.Logf("round %d: %v after %v", i, err, elapsed)
	}
	n := &notices{}
	st, err := Open(OpenOptions{Dir: t.TempDir(), ProbeTimeout: probe, Notify: n.add})
	if _, ok := st.(*FileStore); err != nil || !ok || len(n.all()) != 1 || !strings.Contains(n.all()[0], "did not answer in time") {
		t.Errorf("auto against a hanging keyring: %T, %v, notices %q", st, err, n.all())
	}
	if !testwait.Until(3*time.Second, func() bool { return runtime.NumGoroutine() <= base }) {
		got := runtime.NumGoroutine()
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left after aborted keyring calls (was %d):\n%s", got, base, buf[:runtime.Stack(buf, true)])
	}
}

// BenchmarkKeyringSecretService measures the keyring store against a real
// gnome-keyring: the child benchmark's ns/op for Update, Load and Probe are
// reported here as update-ms, load-ms and probe-ms.
func BenchmarkKeyringSecretService(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("needs gnome-keyring (Linux)")
	}
	addr := startSecretService(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const child = "BenchmarkKeyringSessionChild"
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$", "-test.bench=^"+child+"$", "-test.benchtime=1s")
	cmd.Env = testenv.Env(b, "MCPLINK_CREDENTIALS_STORE=", childTestEnv+"="+child, dbusEnv+"="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child benchmark: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?m)^` + child + `/(\w+)\S*\s+\d+\s+([\d.]+) ns/op`)
	found := 0
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		ns, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ns/1e6, strings.ToLower(m[1])+"-ms")
		found++
	}
	if found != 3 {
		b.Fatalf("expected 3 child results, got %d:\n%s", found, out)
	}
}

func BenchmarkKeyringSessionChild(b *testing.B) {
	if os.Getenv(childTestEnv) != b.Name() {
		b.Skip("runs only in the subprocess started by BenchmarkKeyringSecretService")
	}
	ctx := context.Background()
	service := randomService(b)
	b.Cleanup(func() { _ = keyring.DeleteAll(service) })
	s, err := NewKeyringStore(KeyringOptions{Dir: b.TempDir(), Service: service})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10 { // the same ten realistic entries as benchStore
		name := "server" + strconv.Itoa(i)
		c := &Credentials{
			ServerURL: "https://" + name + ".example/mcp",
			Issuer:    "https://as.example",
			Client:    &Client{ClientID: "client-" + name, Dynamic: true, RegisteredAt: time.Now()},
			Token:     &Token{AccessToken: pad[:800], RefreshToken: pad[:64], TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)},
		}
		if err := s.Update(ctx, name, put(c)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Update", func(b *testing.B) {
		for b.Loop() {
			if err := s.Update(ctx, "server3", func(cur *Credentials) (*Credentials, error) {
				cur.Token.AccessToken = pad[:801]
				return cur, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Load", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Load(ctx, "server3"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Probe", func(b *testing.B) {
		for b.Loop() {
			pctx, cancel := context.WithTimeout(ctx, DefaultProbeTimeout)
			err := s.Probe(pctx)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
