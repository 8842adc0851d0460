package cli_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mcplink/mcplink/internal/tmuxtest"
)

// tmuxHere starts a tmux server for a test whose home is dir: this test
// binary is on PATH under each of names (TestMain runs it as that
// program), HOME is dir with XDG_CONFIG_HOME=dir/.config and
// XDG_DATA_HOME=dir/.data, the data directory is the default under them,
// credentials go to the file store, and vars (K=V) are added.
func tmuxHere(t *testing.T, dir string, names []string, vars ...string) *tmuxtest.Server {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.Symlink(self, filepath.Join(bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	return tmuxtest.Start(t, dir, append([]string{"MCPLINK_DATA_DIR=",
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dir,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"), "XDG_DATA_HOME=" + filepath.Join(dir, ".data"),
		"MCPLINK_CREDENTIALS_STORE=file",
	}, vars...)...)
}
