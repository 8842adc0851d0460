package config

import (
	"os"
	"path/filepath"
	"slices"
)

// opencode's config files, read where opencode reads them.
//
// This matches opencode's loader (packages/opencode/src/config/config.ts and
// config/paths.ts of github.com/anomalyco/opencode, formerly sst/opencode,
// v1.18–1.19), lowest precedence first:
//
//  1. the global files $XDG_CONFIG_HOME/opencode/config.json, opencode.json,
//     opencode.jsonc (in that order; XDG_CONFIG_HOME defaults to ~/.config on
//     every OS, as opencode's xdg-basedir does);
//  2. the file named by OPENCODE_CONFIG;
//  3. the project files: opencode.json and opencode.jsonc in the working
//     directory and every parent up to the worktree root (the nearest
//     directory holding .git; the filesystem root outside a repository),
//     farthest first, and within a directory opencode.json before
//     opencode.jsonc (ConfigPaths.files walks up collecting .jsonc then
//     .json per directory and reverses the list);
//  4. opencode.json then opencode.jsonc in each ".opencode" directory: the
//     project's (working directory up to the worktree root, nearest first,
//     as opencode lists them), then ~/.opencode, then OPENCODE_CONFIG_DIR.
//
// Not read: OPENCODE_CONFIG_CONTENT (inline JSON that programs embedding
// opencode, such as the SDK's createOpencodeServer, pass to the one process
// they start), remote .well-known/opencode and account configs (network),
// and enterprise-managed files. OPENCODE_DISABLE_PROJECT_CONFIG=true|1
// skips 3 and the project part of 4, as in opencode.
//
// Two full definitions of one server in opencode's files merge as opencode
// deep-merges them (mergeOpencode); mcplink's own files replace an entry
// whole (a bare {"enabled": …} only toggles), as they always did.

// OpencodeOptions says where opencode's files are. The caller resolves the
// environment; nothing here reads it.
type OpencodeOptions struct {
	// ConfigHome is $XDG_CONFIG_HOME (default HomeDir/.config): the global
	// files are in ConfigHome/opencode.
	ConfigHome string
	// HomeDir holds ~/.opencode.
	HomeDir string
	// File is $OPENCODE_CONFIG, ConfigDir $OPENCODE_CONFIG_DIR.
	File, ConfigDir string
	// DisableProject is OPENCODE_DISABLE_PROJECT_CONFIG.
	DisableProject bool
}

// Kinds of config files (Source.Kind).
const (
	KindExplicit        = "explicit"         // --config or MCPLINK_CONFIG
	KindForeign         = "foreign"          // --config naming another client's file (LoadOptions.Foreign)
	KindGlobal          = "global"           // mcplink's global file
	KindProject         = "project"          // mcplink.json(c) found from the working directory
	KindOpencodeGlobal  = "opencode-global"  // $XDG_CONFIG_HOME/opencode/…
	KindOpencodeEnv     = "opencode-env"     // OPENCODE_CONFIG or OPENCODE_CONFIG_DIR
	KindOpencodeHome    = "opencode-home"    // ~/.opencode/opencode.json(c)
	KindOpencodeProject = "opencode-project" // opencode.json(c) or .opencode/opencode.json(c) of the project
)

// Source is one config file that Load read, in Config.Sources.
type Source struct {
	Path string
	Kind string
	// Project is true for a file found by discovery from the working
	// directory: it is used only when trusted (see TrustStore).
	Project bool
	// Trusted is false for a project file whose content the user has not
	// trusted: only its server names were read.
	Trusted bool
	// Servers are the servers the file defines in full, Overrides the
	// names it only switches on or off ({"enabled": …}), in file order.
	Servers, Overrides []string
}

// Opencode reports whether the file is one of opencode's.
func (s Source) Opencode() bool {
	switch s.Kind {
	case KindOpencodeGlobal, KindOpencodeEnv, KindOpencodeHome, KindOpencodeProject:
		return true
	}
	return false
}

var (
	opencodeGlobalNames  = []string{"config.json", "opencode.json", "opencode.jsonc"}
	opencodeProjectNames = []string{"opencode.json", "opencode.jsonc"}
)

// loadFile is one file Load tries, in precedence order.
type loadFile struct {
	path string
	kind string
	// project marks files found by discovery, which need the user's trust.
	project bool
}

// lenient reports whether unknown fields are warnings: in opencode's files,
// whose schema grows on opencode's schedule.
func (lf loadFile) lenient() bool {
	return Source{Kind: lf.kind}.Opencode()
}

// discoverFiles lists the files Load reads, lowest precedence first:
// opencode's (when opts.Opencode is set), then mcplink's global and project
// files. Missing files are listed too (Load skips them). A file reached
// twice is listed once, at its first place, and is a project file only when
// every way it was reached is project discovery.
func discoverFiles(opts LoadOptions) []loadFile {
	if opts.File != "" {
		return []loadFile{{path: opts.File, kind: KindExplicit}}
	}
	var files []loadFile
	if oc := opts.Opencode; oc != nil {
		home := oc.ConfigHome
		if home == "" && oc.HomeDir != "" {
			home = filepath.Join(oc.HomeDir, ".config")
		}
		if home != "" {
			for _, n := range opencodeGlobalNames {
				files = append(files, loadFile{path: filepath.Join(home, "opencode", n), kind: KindOpencodeGlobal})
			}
		}
		if oc.File != "" {
			files = append(files, loadFile{path: oc.File, kind: KindOpencodeEnv})
		}
		if !oc.DisableProject {
			for _, p := range opencodeProjectFiles(opts.WorkDir) {
				files = append(files, loadFile{path: p, kind: KindOpencodeProject, project: true})
			}
			for _, d := range opencodeDirsUp(opts.WorkDir) {
				for _, n := range opencodeProjectNames {
					files = append(files, loadFile{path: filepath.Join(d, n), kind: KindOpencodeProject, project: true})
				}
			}
		}
		if oc.HomeDir != "" {
			for _, n := range opencodeProjectNames {
				files = append(files, loadFile{path: filepath.Join(oc.HomeDir, ".opencode", n), kind: KindOpencodeHome})
			}
		}
		if oc.ConfigDir != "" {
			for _, n := range opencodeProjectNames {
				files = append(files, loadFile{path: filepath.Join(oc.ConfigDir, n), kind: KindOpencodeEnv})
			}
		}
	}
	home := opts.ConfigHome
	if home == "" && opts.HomeDir != "" {
		home = filepath.Join(opts.HomeDir, ".config")
	}
	if home != "" {
		files = append(files, loadFile{path: GlobalFile(home), kind: KindGlobal})
	}
	if p := findProject(opts.WorkDir); p != "" {
		files = append(files, loadFile{path: p, kind: KindProject, project: true})
	}
	return dedupeFiles(files)
}

// dedupeFiles keeps the first occurrence of each existing file; a file also
// reached as one of the user's own (global, home, environment) is trusted.
func dedupeFiles(files []loadFile) []loadFile {
	out := files[:0:0]
	for _, lf := range files {
		i := slices.IndexFunc(out, func(o loadFile) bool { return sameFile(o.path, lf.path) })
		if i < 0 {
			out = append(out, lf)
			continue
		}
		if !lf.project {
			out[i].project = false
		}
	}
	return out
}

// opencodeProjectFiles returns opencode.json and opencode.jsonc from the
// worktree root down to workDir, in opencode's merge order (farthest
// directory first; in one directory .json before .jsonc).
func opencodeProjectFiles(workDir string) []string {
	var found []string
	for _, dir := range dirsUp(workDir) {
		for _, n := range []string{"opencode.jsonc", "opencode.json"} {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				found = append(found, p)
			}
		}
	}
	slices.Reverse(found)
	return found
}

// opencodeDirsUp returns the .opencode directories from workDir up to the
// worktree root, nearest first (opencode's order for them).
func opencodeDirsUp(workDir string) []string {
	var out []string
	for _, dir := range dirsUp(workDir) {
		p := filepath.Join(dir, ".opencode")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

// dirsUp returns workDir and its parents up to the worktree root: the
// nearest directory holding .git (a directory, or a file in a linked
// worktree or submodule), or the filesystem root when there is none — as
// opencode's project (worktree "/" outside a repository).
func dirsUp(workDir string) []string {
	if workDir == "" {
		return nil
	}
	var dirs []string
	dir := filepath.Clean(workDir)
	for range 4096 { // bounded: a path has far fewer components
		dirs = append(dirs, dir)
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return dirs
}
