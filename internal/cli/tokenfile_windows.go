//go:build windows

package cli

import "io/fs"

// checkTokenFileMode accepts every token file on Windows, where Unix mode
// bits say nothing: access is governed by the file's ACL.
func checkTokenFileMode(string, fs.FileInfo) error { return nil }
