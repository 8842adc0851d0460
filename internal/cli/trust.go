package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/safefile"
	"github.com/mcplink/mcplink/internal/termtext"
)

// TrustOptions are the options of `mcplink trust`.
type TrustOptions struct {
	IO         *IOStreams
	Diag       diagFunc
	TrustStore func() *config.TrustStore
	// WorkDir is where relative files and discovery start.
	WorkDir string

	File   string
	List   bool
	Forget bool
	JSON   bool
}

// NewCmdTrust builds `mcplink trust`.
func NewCmdTrust(f *Factory, runF func(context.Context, *TrustOptions) error) *cobra.Command {
	opts := &TrustOptions{IO: f.IO, Diag: f.diag, TrustStore: f.trustStore, WorkDir: f.WorkDir}
	cmd := &cobra.Command{
		Use:   "trust [FILE]",
		Short: "Trust the project config file here (its servers may then run and be contacted)",
		Long: `A project config file (mcplink.json or mcplink.jsonc found from the working
directory upwards, and opencode's opencode.json, opencode.jsonc and
.opencode/opencode.json found up to the repository root) may come from a repository nobody reviewed, so mcplink does not
start its commands, contact its servers or expand its {env:...}/{file:...}
substitutions until you trust it. 'list', 'tui' and 'serve' show its servers as
untrusted; 'call', 'tools', 'auth' and 'proxy' on one of them exit 2.

'mcplink trust' records the project file's path and SHA-256 content hash in
mcplink's data directory (trust.json beside the credentials). Any change to the
file makes it untrusted again; a file mcplink itself edits ('add', 'remove', the
TUI's enable toggle) stays trusted. The global config file and a file given with
--config or MCPLINK_CONFIG are always trusted.

Review the file before trusting it: its local servers run as you.`,
		Example: `  mcplink trust                 # the project file of this directory
  mcplink trust ../other/mcplink.json
  mcplink trust --list
  mcplink trust --forget`,
		Args: rangeArgs(0, 1, "at most one file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			if opts.List && (opts.Forget || opts.File != "") {
				return usageError("trust: --list takes no file and no --forget")
			}
			if opts.JSON && !opts.List {
				return usageError("trust: --json applies to --list")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return trustRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.List, "list", false, "list trusted files: path, hash prefix and whether the file still matches")
	cmd.Flags().BoolVar(&opts.Forget, "forget", false, "stop trusting FILE (default: the project file of this directory)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "with --list: print a JSON array")
	return cmd
}

// trustJSON is the stable --list --json shape of one record.
type trustJSON struct {
	File      string    `json:"file"`
	SHA256    string    `json:"sha256"`
	TrustedAt time.Time `json:"trustedAt"`
	// State is "trusted" (the file matches), "changed" or "missing".
	State string `json:"state"`
}

func trustRun(opts *TrustOptions) error {
	ts := opts.TrustStore()
	if opts.List {
		return trustList(opts, ts)
	}
	files, err := trustTargets(opts.WorkDir, opts.File)
	if err != nil {
		return err
	}
	for _, file := range files {
		if opts.Forget {
			found, err := ts.Forget(file)
			if err != nil {
				return err
			}
			if found {
				opts.Diag("No longer trusted: %s", file)
			} else {
				opts.Diag("%s was not trusted; nothing to forget", file)
			}
			continue
		}
		data, err := readTrustTarget(file)
		if err != nil {
			return err
		}
		rec, err := ts.Trust(file, data)
		if err != nil {
			return err
		}
		opts.Diag("Trusted %s (sha256 %s); its servers may now run and be contacted. Any change to it needs 'mcplink trust' again.", file, rec.SHA256)
	}
	return nil
}

// trustTargets returns the file named on the command line (relative to the
// working directory), or the project files discovery finds from it.
func trustTargets(workDir, file string) ([]string, error) {
	if file != "" {
		if !filepath.IsAbs(file) {
			file = filepath.Join(workDir, file)
		}
		return []string{filepath.Clean(file)}, nil
	}
	files := config.ProjectFiles(workDir)
	if len(files) == 0 {
		return nil, usageError("trust: no project config file (mcplink.json, mcplink.jsonc, opencode.json or opencode.jsonc) in %s or its parents; name the file to trust", workDir)
	}
	return files, nil
}

// readTrustTarget reads the file to trust: a regular file (a FIFO or device
// would block or never end).
func readTrustTarget(file string) ([]byte, error) {
	fi, err := os.Stat(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageError("trust: %s does not exist", file)
		}
		return nil, usageError("trust: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, usageError("trust: %s is not a regular file", file)
	}
	// Bounded, and refusing a FIFO swapped in after the stat.
	data, err := safefile.ReadRegular(file, config.MaxFileSize)
	if err != nil {
		return nil, usageError("trust: %v", err)
	}
	return data, nil
}

func trustList(opts *TrustOptions, ts *config.TrustStore) error {
	recs, err := ts.List()
	if err != nil {
		return err
	}
	out := make([]trustJSON, 0, len(recs))
	for _, r := range recs {
		state := "trusted"
		// The recorded path may hold anything now (a FIFO, a link to
		// /dev/zero): read it bounded and without blocking.
		data, err := safefile.ReadRegular(r.File, config.MaxFileSize)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			state = "missing"
		case err != nil || config.ContentHash(data) != r.SHA256:
			state = "changed"
		}
		out = append(out, trustJSON{File: r.File, SHA256: r.SHA256, TrustedAt: r.TrustedAt, State: state})
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, out)
	}
	if len(out) == 0 {
		opts.Diag("No trusted project files. Run 'mcplink trust' in a project directory to trust its mcplink.json.")
		return nil
	}
	w := 0
	for _, r := range out {
		w = max(w, len(r.State))
	}
	for _, r := range out {
		fmt.Fprintf(opts.IO.Out, "%-*s  %s  %s\n", w, r.State, r.SHA256[:min(12, len(r.SHA256))], termtext.Line(r.File))
	}
	return nil
}

// noteUntrusted tells the user when path, a config file they just edited,
// is an untrusted project file (its servers stay unused until trusted).
func (f *Factory) noteUntrusted(path string) {
	if f.editOptions(path) == nil {
		return // global or explicit: always trusted
	}
	data, err := safefile.ReadRegular(path, config.MaxFileSize)
	if err != nil {
		return
	}
	if st, err := f.trustStore().Check(path, data); err == nil && st != config.Trusted {
		f.diag("note: %s is not trusted, so its servers are not used; review it, then run 'mcplink trust' in %s", path, filepath.Dir(path))
	}
}

// promptTimeout bounds how long list waits for an answer to its trust
// question before taking it as no.
const promptTimeout = 2 * time.Minute

// interactive reports whether stdin and stderr are terminals (a person can
// be asked a question).
func (f *Factory) interactive() bool {
	for _, s := range []any{f.IO.In, f.IO.ErrOut} {
		file, ok := s.(*os.File)
		if !ok {
			return false
		}
		if fi, err := file.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			return false
		}
	}
	return true
}

// offerTrust asks, on a terminal, whether to trust each untrusted project
// file of cfg; the default (Enter, anything but y/yes, no answer within
// promptTimeout, end of input) is no. Only the exact content Load saw is
// trusted: a file changed since is left untrusted. It reports whether a
// file was trusted (the configuration must then be loaded again).
func (f *Factory) offerTrust(ctx context.Context, cfg *config.Config) (bool, error) {
	var files []*config.UntrustedError
	servers := map[string][]string{}
	for _, name := range cfg.Names() {
		ue := cfg.Servers[name].Untrusted
		if ue == nil {
			continue
		}
		if servers[ue.File] == nil {
			files = append(files, ue)
		}
		servers[ue.File] = append(servers[ue.File], name)
	}
	if len(files) == 0 || !f.interactive() {
		return false, nil
	}
	lines, stop := pasteLines(f.IO.In)
	defer stop()
	trusted := false
	for _, ue := range files {
		// The names (and the path, a cloned repository's) are the file's
		// author's: no terminal controls that could redraw this question.
		file := termtext.Line(ue.File)
		fmt.Fprintf(f.IO.ErrOut, "%s is not trusted: its servers (%s) are not started or contacted.\n", file, termtext.Line(strings.Join(servers[ue.File], ", ")))
		fmt.Fprintf(f.IO.ErrOut, "Trusting it lets its commands run as you and its servers receive its {env:...}/{file:...} values.\n")
		fmt.Fprintf(f.IO.ErrOut, "Trust %s (sha256 %.12s) now? [y/N] ", file, ue.SHA256)
		answer := ""
		select {
		case l, ok := <-lines:
			if ok {
				answer = strings.ToLower(strings.TrimSpace(l))
			}
		case <-time.After(promptTimeout):
			fmt.Fprintln(f.IO.ErrOut)
		case <-ctx.Done():
			fmt.Fprintln(f.IO.ErrOut)
			return trusted, ctx.Err()
		}
		if answer != "y" && answer != "yes" {
			f.diag("Not trusted; run 'mcplink trust' in %s after reviewing it.", ue.Dir)
			continue
		}
		data, err := readTrustTarget(ue.File)
		if err != nil {
			return trusted, err
		}
		if config.ContentHash(data) != ue.SHA256 {
			f.diag("%s changed while you were asked; not trusted. Review it again.", ue.File)
			continue
		}
		rec, err := f.trustStore().Trust(ue.File, data)
		if err != nil {
			return trusted, err
		}
		f.diag("Trusted %s (sha256 %s).", ue.File, rec.SHA256)
		trusted = true
	}
	return trusted, nil
}
