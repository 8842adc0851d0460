package clients

import (
	"path/filepath"
	"slices"
)

// Clients whose MCP servers `mcplink import` reads.
const (
	ClaudeCode    = "claude-code"
	ClaudeDesktop = "claude-desktop"
	Cursor        = "cursor"
	VSCode        = "vscode"
	Windsurf      = "windsurf"
	Gemini        = "gemini"
	Codex         = "codex"
)

// Names lists the clients Files knows, in the order help shows them.
var Names = []string{ClaudeCode, ClaudeDesktop, Cursor, VSCode, Windsurf, Gemini, Codex}

// Known reports whether Files knows client.
func Known(client string) bool { return slices.Contains(Names, client) }

// File is one file a client keeps MCP servers in.
type File struct {
	Path string
	// Project marks a file of the project at the working directory (as
	// opposed to the user's own).
	Project bool
	// Scope is the part of Claude Code's ~/.claude.json to read: "user"
	// (its top-level "mcpServers") or "local" (the working directory's
	// entry under "projects"); "" for every other file. See Vars.Scope.
	Scope string
}

// Files returns where client keeps its MCP servers on goos, lowest
// precedence first: the user's files, then the project's at workDir (when
// workDir is not ""). A pure function of its arguments: getenv reads the
// environment, home is the home directory. Files that do not exist are
// listed too. Where each client looks:
//
//   - claude-code: in Claude Code's order (local over project over user):
//     the user's servers of ~/.claude.json (or
//     $CLAUDE_CONFIG_DIR/.claude.json), workDir/.mcp.json, then the
//     "projects" entry of workDir in ~/.claude.json;
//   - claude-desktop: claude_desktop_config.json in ~/Library/Application
//     Support/Claude (macOS), %APPDATA%\Claude (Windows),
//     $XDG_CONFIG_HOME/Claude (elsewhere);
//   - cursor: ~/.cursor/mcp.json, then workDir/.cursor/mcp.json;
//   - vscode: the default profile's mcp.json in ~/Library/Application
//     Support/Code/User (macOS), %APPDATA%\Code\User (Windows),
//     $XDG_CONFIG_HOME/Code/User (elsewhere); then workDir/.vscode/mcp.json;
//   - windsurf: ~/.codeium/windsurf/mcp_config.json;
//   - gemini: ~/.gemini/settings.json, then workDir/.gemini/settings.json;
//   - codex: $CODEX_HOME/config.toml (default ~/.codex).
//
// ok is false for a client Files does not know.
func Files(client, goos string, getenv func(string) string, home, workDir string) (files []File, ok bool) {
	user := func(p ...string) {
		if home != "" || filepath.IsAbs(p[0]) {
			files = append(files, File{Path: filepath.Join(p...)})
		}
	}
	project := func(p ...string) {
		path := filepath.Join(append([]string{workDir}, p...)...)
		// In the home directory the project's file is the user's.
		if workDir != "" && !slices.ContainsFunc(files, func(f File) bool { return f.Path == path }) {
			files = append(files, File{Path: path, Project: true})
		}
	}
	dir := func(env, def string) string {
		if d := getenv(env); d != "" {
			return d
		}
		return filepath.Join(home, def)
	}
	// appData is where desktop applications keep settings on goos.
	appData := func() string {
		switch goos {
		case "darwin":
			return filepath.Join(home, "Library", "Application Support")
		case "windows":
			return dir("APPDATA", filepath.Join("AppData", "Roaming"))
		}
		return dir("XDG_CONFIG_HOME", ".config")
	}
	switch client {
	case ClaudeCode:
		user(dir("CLAUDE_CONFIG_DIR", ""), ".claude.json")
		if len(files) == 1 {
			files[0].Scope = "user"
		}
		project(".mcp.json")
		if len(files) > 0 && files[0].Scope == "user" && workDir != "" {
			files = append(files, File{Path: files[0].Path, Project: true, Scope: "local"})
		}
	case ClaudeDesktop:
		user(appData(), "Claude", "claude_desktop_config.json")
	case Cursor:
		user(home, ".cursor", "mcp.json")
		project(".cursor", "mcp.json")
	case VSCode:
		user(appData(), "Code", "User", "mcp.json")
		project(".vscode", "mcp.json")
	case Windsurf:
		user(home, ".codeium", "windsurf", "mcp_config.json")
	case Gemini:
		user(home, ".gemini", "settings.json")
		project(".gemini", "settings.json")
	case Codex:
		user(dir("CODEX_HOME", ".codex"), "config.toml")
	default:
		return nil, false
	}
	return files, true
}
