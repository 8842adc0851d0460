// Package atomicfile replaces a file whole, for the config file, the trust
// store and the credentials file: a reader sees the old content or the new,
// never a mix, and a crash mid-write leaves the old file (and at most a
// stale temp file, matched by TempGlob).
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// TempInfix separates the replaced file's name from the random suffix of
// its temp files: credentials.json.tmp-1f2e….
const TempInfix = ".tmp-"

// CreateTemp creates a new, exclusive temp file next to path, named
// path + TempInfix + 16 hex digits, with mode 0600 from the start (the umask
// can only narrow it): what is being written may be a secret.
func CreateTemp(path string) (*os.File, error) {
	var rnd [8]byte
	for range 10 {
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path+TempInfix+hex.EncodeToString(rnd[:]), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("could not create a unique temp file next to %s", path)
}

// TempGlob is the filepath.Glob pattern of the temp files CreateTemp makes
// for path, for removing those a writer that died left behind. The file
// name's glob metacharacters are escaped (not the directory's: on Windows
// the escape character is the path separator).
func TempGlob(path string) string {
	name := filepath.Base(path) + TempInfix
	if runtime.GOOS != "windows" {
		name = strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`).Replace(name)
	}
	return filepath.Join(filepath.Dir(path), name+"*")
}

// Write replaces path with data and mode perm: it writes a temp file in
// the same directory (0600 while being written), fsyncs it, sets perm,
// renames it over path and fsyncs the directory so the rename survives a
// crash (not on Windows, which cannot fsync a directory). The directory
// must exist. On error path is unchanged and the temp file removed.
func Write(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := CreateTemp(path)
	if err != nil {
		return fmt.Errorf("create a temp file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if perm != 0o600 {
		if err = f.Chmod(perm); err != nil {
			return fmt.Errorf("chmod %s: %w", tmp, err)
		}
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable. Windows cannot fsync a directory.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
