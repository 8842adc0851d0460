package authstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/mcplink/mcplink/internal/testwait"
)

// TestMain lets tests re-exec the test binary as a helper process.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

func newTestStore(t testing.TB, dir string) (*FileStore, *notices) {
	t.Helper()
	n := &notices{}
	s, err := NewFileStore(FileOptions{Dir: dir, Notify: n.add})
	if err != nil {
		t.Fatalf("NewFileStore: %v", err)
	}
	return s, n
}

type notices struct {
	mu   sync.Mutex
	msgs []string
}

func (n *notices) add(m string) { n.mu.Lock(); n.msgs = append(n.msgs, m); n.mu.Unlock() }
func (n *notices) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

func put(c *Credentials) func(*Credentials) (*Credentials, error) {
	return func(*Credentials) (*Credentials, error) { return c, nil }
}

func TestRoundTripListAndUpdatedAt(t *testing.T) {
	ctx := context.Background()
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := NewFileStore(FileOptions{Dir: t.TempDir(), Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load on empty store: got %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read must not create the file; stat: %v", err)
	}
	want := &Credentials{
		ServerURL: "https://a.example/mcp",
		Issuer:    "https://as.example",
		Client:    &Client{ClientID: "cid", ClientSecret: "csecret", Dynamic: true},
		Token:     &Token{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer", Expiry: fixed.Add(time.Hour)},
	}
	if err := s.Update(ctx, "a", put(want)); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "b", put(&Credentials{ServerURL: "https://b.example/mcp"})); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	w := *want
	w.UpdatedAt = fixed
	if !reflect.DeepEqual(got, &w) {
		t.Fatalf("Load = %+v, want %+v", got, &w)
	}
	all, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["b"] == nil || all["b"].ServerURL != "https://b.example/mcp" {
		t.Fatalf("List = %v", all)
	}
	// Update sees the current entry.
	err = s.Update(ctx, "a", func(cur *Credentials) (*Credentials, error) {
		if cur == nil || cur.Token.RefreshToken != "rt" {
			return nil, fmt.Errorf("fn saw %+v", cur)
		}
		cur.Token.AccessToken = "at2"
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx, "a"); got.Token.AccessToken != "at2" {
		t.Fatalf("after update AccessToken = %q", got.Token.AccessToken)
	}
	// On-disk format is versioned and keyed by name.
	var doc struct {
		Version int                        `json:"version"`
		Servers map[string]json.RawMessage `json:"servers"`
	}
	data, _ := os.ReadFile(s.Path())
	if err := json.Unmarshal(data, &doc); err != nil || doc.Version != 1 || len(doc.Servers) != 2 {
		t.Fatalf("file format: version=%d servers=%d err=%v", doc.Version, len(doc.Servers), err)
	}
	if _, err := s.Load(ctx, ""); err == nil {
		t.Fatal("empty name accepted")
	}
}

func TestDefaultDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix-style paths; the choice on every OS is tested in internal/paths")
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		home string
		want string
	}{
		{map[string]string{"MCPLINK_DATA_DIR": "/d", "XDG_DATA_HOME": "/x"}, "/h", "/d"},
		{map[string]string{"XDG_DATA_HOME": "/x"}, "/h", filepath.Join("/x", "mcplink")},
		{map[string]string{"XDG_DATA_HOME": "relative"}, "/h", filepath.Join("/h", ".local", "share", "mcplink")},
		{nil, "/h", filepath.Join("/h", ".local", "share", "mcplink")},
		{nil, "", ""},
	}
	for _, c := range cases {
		if got := DefaultDir(env(c.env), c.home); got != c.want {
			t.Errorf("DefaultDir(%v, %q) = %q, want %q", c.env, c.home, got, c.want)
		}
	}
	if _, err := NewFileStore(FileOptions{}); err == nil {
		t.Error("NewFileStore with empty Dir succeeded")
	}
}

func TestForURL(t *testing.T) {
	c := &Credentials{ServerURL: "https://a.example/mcp"}
	if !c.ForURL("https://a.example/mcp") {
		t.Error("same URL rejected")
	}
	for _, u := range []string{"https://a.example/mcp/", "https://A.example/mcp", "http://a.example/mcp", "https://a.example/other", ""} {
		if c.ForURL(u) {
			t.Errorf("ForURL(%q) = true for credentials of %q", u, c.ServerURL)
		}
	}
	var nilCreds *Credentials
	if nilCreds.ForURL("https://a.example/mcp") {
		t.Error("nil credentials accepted")
	}
}

func TestDeleteAbsent(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, t.TempDir())
	if err := s.Delete(ctx, "nope"); err != nil {
		t.Fatalf("Delete on empty store: %v", err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleting nothing created the file: %v", err)
	}
	if err := s.Update(ctx, "keep", put(&Credentials{ServerURL: "https://k"})); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "nope"); err != nil {
		t.Fatalf("Delete of absent name: %v", err)
	}
	if err := s.Delete(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "keep"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete, Load = %v", err)
	}
	if err := s.Delete(ctx, "keep"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestUpdateFnErrorAborts(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, t.TempDir())
	boom := errors.New("boom")
	if err := s.Update(ctx, "a", func(*Credentials) (*Credentials, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("aborted update created the file: %v", err)
	}
	if err := s.Update(ctx, "a", put(&Credentials{ServerURL: "https://a", Token: &Token{AccessToken: "one"}})); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(s.Path())
	st1, _ := os.Stat(s.Path())
	err := s.Update(ctx, "a", func(cur *Credentials) (*Credentials, error) {
		cur.Token.AccessToken = "two" // mutating cur must not leak into the store
		return &Credentials{ServerURL: "https://changed"}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	after, _ := os.ReadFile(s.Path())
	st2, _ := os.Stat(s.Path())
	if !bytes.Equal(before, after) || !os.SameFile(st1, st2) {
		t.Fatal("file changed after fn error")
	}
	if got, _ := s.Load(ctx, "a"); got.Token.AccessToken != "one" {
		t.Fatalf("AccessToken = %q after aborted update", got.Token.AccessToken)
	}
}

func TestCorruptFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, n := newTestStore(t, dir)
	// Contents include a secret that must never appear in errors or notices.
	corrupt := []byte(`{"version":1,"servers":{"a":{"serverUrl":"https://a","token":{"accessToken":"SECRET-TOKEN-XYZ"` + "\n")
	if err := os.WriteFile(s.Path(), corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(ctx, "a")
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load = %v, want ErrCorrupt", err)
	}
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != s.Path() || !strings.Contains(err.Error(), s.Path()) {
		t.Fatalf("error does not name the file: %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error leaks file contents: %v", err)
	}
	if _, err := s.List(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("List = %v, want ErrCorrupt", err)
	}
	// A syntax error whose message would quote the offending character.
	if err := os.WriteFile(s.Path(), []byte("{\"version\":1,\"servers\":S3CR3T}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "'S'") {
		t.Fatalf("Load = %v", err)
	}
	if err := os.WriteFile(s.Path(), corrupt, 0o600); err != nil {
		t.Fatal(err)
	}

	if err := s.Update(ctx, "b", put(&Credentials{ServerURL: "https://b"})); err != nil {
		t.Fatalf("Update over corrupt file: %v", err)
	}
	moved, _ := filepath.Glob(filepath.Join(dir, "credentials.json.corrupt-*"))
	if len(moved) != 1 {
		t.Fatalf("moved-aside files: %v", moved)
	}
	old, err := os.ReadFile(moved[0])
	if err != nil || !bytes.Equal(old, corrupt) {
		t.Fatalf("moved file content not preserved (err %v)", err)
	}
	msgs := n.all()
	if len(msgs) != 1 || !strings.Contains(msgs[0], s.Path()) || !strings.Contains(msgs[0], moved[0]) || strings.Contains(msgs[0], "SECRET") {
		t.Fatalf("notices = %q", msgs)
	}
	all, err := s.List(ctx)
	if err != nil || len(all) != 1 || all["b"] == nil {
		t.Fatalf("after recovery List = %v, %v", all, err)
	}

	// An entry of the wrong shape is corruption too, and the second move-aside
	// gets a distinct name even within the same second.
	if err := os.WriteFile(s.Path(), []byte(`{"version":1,"servers":{"a":{"serverUrl":5}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "b"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "serverUrl") {
		t.Fatalf("Load with bad entry = %v", err)
	}
	if err := s.Delete(ctx, "zzz"); err != nil {
		t.Fatal(err)
	}
	if moved, _ := filepath.Glob(filepath.Join(dir, "credentials.json.corrupt-*")); len(moved) != 2 {
		t.Fatalf("moved-aside files after second corruption: %v", moved)
	}
}

func TestFutureVersionNotOverwritten(t *testing.T) {
	ctx := context.Background()
	s, n := newTestStore(t, t.TempDir())
	future := []byte(`{"version":2,"servers":{},"somethingNew":true}`)
	if err := os.WriteFile(s.Path(), future, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(), s.Path()) {
		t.Fatalf("Load = %v, want ErrUnsupportedVersion naming the file", err)
	}
	called := false
	err := s.Update(ctx, "a", func(*Credentials) (*Credentials, error) { called = true; return &Credentials{}, nil })
	if !errors.Is(err, ErrUnsupportedVersion) || called {
		t.Fatalf("Update = %v (fn called %v), want ErrUnsupportedVersion", err, called)
	}
	if got, _ := os.ReadFile(s.Path()); !bytes.Equal(got, future) {
		t.Fatal("future-version file was modified")
	}
	if len(n.all()) != 0 {
		t.Fatalf("unexpected notices %q", n.all())
	}
}

func TestUnknownFieldsOfOtherEntriesPreserved(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, t.TempDir())
	in := `{"version":1,"servers":{"other":{"serverUrl":"https://o","futureField":{"x":1}}}}`
	if err := os.WriteFile(s.Path(), []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "mine", put(&Credentials{ServerURL: "https://m"})); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(s.Path())
	if !strings.Contains(string(data), `"futureField"`) {
		t.Fatalf("field written by a newer version was dropped:\n%s", data)
	}
}

func TestContextCancelWhileLocked(t *testing.T) {
	s, _ := newTestStore(t, t.TempDir())
	if err := s.Update(context.Background(), "a", put(&Credentials{ServerURL: "https://a"})); err != nil {
		t.Fatal(err)
	}
	// Another holder (a separate open file description, as another process
	// would have) keeps the exclusive lock.
	other := flock.New(s.Path() + ".lock")
	if err := other.Lock(); err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()

	for name, op := range map[string]func(context.Context) error{
		"Update": func(ctx context.Context) error {
			return s.Update(ctx, "a", func(*Credentials) (*Credentials, error) {
				return nil, errors.New("fn must not run without the lock")
			})
		},
		"Load": func(ctx context.Context) error { _, err := s.Load(ctx, "a"); return err },
		"List": func(ctx context.Context) error { _, err := s.List(ctx); return err },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
		start := time.Now()
		err := op(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s while locked = %v, want DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v to notice cancellation", name, d)
		}
	}
	// Once released, a waiting writer proceeds.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Delete(ctx, "a")
	}()
	// The writer holds the in-process semaphore only while it waits for
	// (or holds) the file lock, which other has: it is waiting.
	testwait.For(t, 5*time.Second, "Delete to wait for the file lock", func() bool { return len(s.docs.sem) == 1 })
	select {
	case err := <-done:
		t.Fatalf("Delete returned while another holder had the lock: %v", err)
	default:
	}
	if err := other.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Delete after unlock: %v", err)
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Two stores on one directory within one process, as two components of
	// the same program might have.
	s1, _ := newTestStore(t, dir)
	s2, _ := newTestStore(t, dir)
	const workers, rounds = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		s := s1
		if w%2 == 1 {
			s = s2
		}
		wg.Go(func() {
			for range rounds {
				errs <- s.Update(ctx, "counter", increment)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := s1.Load(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got := counterOf(c); got != workers*rounds {
		t.Fatalf("counter = %d, want %d (lost updates)", got, workers*rounds)
	}
}
