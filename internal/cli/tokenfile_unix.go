//go:build !windows

package cli

import "io/fs"

// checkTokenFileMode refuses an API token file that group or others may
// access, as ssh refuses such a private key: anyone who can read the token
// can drive the API (sign in, call tools with the user's credentials).
func checkTokenFileMode(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return usageError("--token-file %s is accessible by group or others (mode %04o); the API token must be private: run `chmod 600 %s`", path, perm, path)
	}
	return nil
}
