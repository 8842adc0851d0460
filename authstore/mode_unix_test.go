//go:build unix

package authstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/atomicfile"
)

// withUmask0 runs the test body with umask 0, so any permission not set by
// construction would show up as group/world bits.
func withUmask0(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestModesWithUmask0(t *testing.T) {
	withUmask0(t)
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b")
	s, n := newTestStore(t, dir)
	if p := perm(t, dir); p != 0o700 {
		t.Errorf("dir mode %#o, want 0700", p)
	}
	if p := perm(t, filepath.Join(base, "a")); p != 0o700 {
		t.Errorf("created parent mode %#o, want 0700", p)
	}
	if err := s.Update(ctx, "a", put(&Credentials{ServerURL: "https://a"})); err != nil {
		t.Fatal(err)
	}
	if p := perm(t, s.Path()); p != 0o600 {
		t.Errorf("file mode %#o, want 0600", p)
	}
	if p := perm(t, s.Path()+".lock"); p != 0o600 {
		t.Errorf("lock file mode %#o, want 0600", p)
	}
	// The temp file is 0600 from creation on.
	f, err := atomicfile.CreateTemp(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if p := perm(t, f.Name()); p != 0o600 {
		t.Errorf("temp file mode %#o, want 0600", p)
	}
	f.Close()
	os.Remove(f.Name())

	// A file someone made wider is replaced by a 0600 one on the next write.
	if err := os.Chmod(s.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "b", put(&Credentials{ServerURL: "https://b"})); err != nil {
		t.Fatal(err)
	}
	if p := perm(t, s.Path()); p != 0o600 {
		t.Errorf("file mode after rewrite %#o, want 0600", p)
	}
	if len(n.all()) != 0 {
		t.Errorf("unexpected notices: %q", n.all())
	}

	// An existing group-writable directory is left alone but reported.
	wide := filepath.Join(base, "wide")
	if err := os.Mkdir(wide, 0o775); err != nil {
		t.Fatal(err)
	}
	_, wn := newTestStore(t, wide)
	if msgs := wn.all(); len(msgs) != 1 || !strings.Contains(msgs[0], wide) || !strings.Contains(msgs[0], "chmod 700") {
		t.Errorf("notices for wide dir: %q", msgs)
	}
}

// TestTempFilesObservedDuringWrites watches the directory while writes run
// and checks the mode of every temp file caught in flight.
func TestTempFilesObservedDuringWrites(t *testing.T) {
	withUmask0(t)
	dir := t.TempDir()
	s, _ := newTestStore(t, dir)
	stop := make(chan struct{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		seen     int
		badModes []os.FileMode
	)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if !strings.Contains(e.Name(), ".tmp-") {
					continue
				}
				fi, err := os.Lstat(filepath.Join(dir, e.Name()))
				if err != nil {
					continue // renamed away meanwhile
				}
				mu.Lock()
				seen++
				if fi.Mode().Perm() != 0o600 {
					badModes = append(badModes, fi.Mode().Perm())
				}
				mu.Unlock()
			}
		}
	})
	ctx := context.Background()
	deadline := time.Now().Add(8 * time.Second)
	for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
		if err := s.Update(ctx, "x", increment); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		enough := seen >= 5
		mu.Unlock()
		if enough {
			break
		}
	}
	close(stop)
	wg.Wait()
	if seen == 0 {
		t.Fatal("no temp file observed during writes")
	}
	if len(badModes) != 0 {
		t.Fatalf("temp files with modes %v observed", badModes)
	}
	if p := perm(t, s.Path()); p != 0o600 {
		t.Fatalf("file mode %#o", p)
	}
	t.Logf("observed %d temp files in flight, all 0600", seen)
}
