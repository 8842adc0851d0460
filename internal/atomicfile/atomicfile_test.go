package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWrite replaces a file, sets the mode asked for, and leaves no temp
// file behind; a failed write (missing directory) leaves nothing either.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f[1].json")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o600, 0o640} {
		if err := Write(p, []byte("new"), mode); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "new" {
			t.Fatalf("read back %q, %v", b, err)
		}
		if fi, err := os.Stat(p); err != nil {
			t.Fatal(err)
		} else if runtime.GOOS != "windows" && fi.Mode().Perm() != mode {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), mode)
		}
	}
	if m, _ := filepath.Glob(TempGlob(p)); len(m) != 0 {
		t.Errorf("temp files left: %v", m)
	}
	if err := Write(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(ents))
	}
}

// TestTempGlob matches CreateTemp's files, even when the name holds glob
// metacharacters, and not the file itself.
func TestTempGlob(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a*b?[c].json")
	f, err := CreateTemp(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(f.Name()); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("temp file mode %v, %v; want 0600", fi.Mode().Perm(), err)
		}
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := filepath.Glob(TempGlob(p))
	if err != nil || len(m) != 1 || m[0] != f.Name() {
		t.Errorf("TempGlob matched %v, %v; want [%s]", m, err, f.Name())
	}
}
