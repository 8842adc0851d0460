package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// ListOptions are the options of `mcplink list`.
type ListOptions struct {
	IO         *IOStreams
	Config     configFunc
	OfferTrust func(context.Context, *config.Config) (bool, error)
	NewManager newManagerFunc
	AuthStates func(context.Context, *oauth.Engine, *config.Config) map[string]*authJSON

	JSON    bool
	Timeout time.Duration
}

// NewCmdList builds `mcplink list`.
func NewCmdList(f *Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, Config: f.Config, OfferTrust: f.offerTrust, NewManager: f.newManager, AuthStates: f.authStates}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Connect to every configured server and show its status",
		Long: `Connect to every enabled server concurrently and print one line per server:
name, status, tool count, URL or command, and the error if any.

Statuses: connected, disabled, failed, needs_auth, needs_client_registration,
untrusted (a project file not yet approved with 'mcplink trust': nothing in it
is run or contacted).
Exit status is 0 whenever the listing worked, whatever the servers' states; 2 on config errors.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "how long to wait for each server to connect and list its tools (default: its \"timeout\", 30s)")
	return cmd
}

// serverJSON is the stable --json shape of one server.
type serverJSON struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Status    string    `json:"status"`
	URL       string    `json:"url,omitempty"`
	Command   []string  `json:"command,omitempty"`
	Transport string    `json:"transport,omitempty"`
	Tools     *int      `json:"tools,omitempty"`
	Error     string    `json:"error,omitempty"`
	Auth      *authJSON `json:"auth,omitempty"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	if !opts.JSON {
		// On a terminal, offer to trust an untrusted project file (default no).
		if trusted, err := opts.OfferTrust(ctx, cfg); err != nil {
			return err
		} else if trusted {
			if cfg, err = opts.Config(); err != nil {
				return err
			}
		}
	}
	m, eng, closeM, err := opts.NewManager(cfg, opts.Timeout)
	if err != nil {
		return err
	}
	defer closeM()
	states := m.ConnectAll(ctx)
	auth := opts.AuthStates(ctx, eng, cfg)
	for _, s := range states {
		if s.Status == manager.StatusDisabled {
			// Nothing connects to a disabled server: no auth state (AUTH
			// "-", no "auth" in --json), rather than a "not_authenticated"
			// that looks like something to fix.
			delete(auth, s.Name)
		}
	}

	if opts.JSON {
		out := make([]serverJSON, 0, len(states))
		for _, s := range states {
			out = append(out, toServerJSON(s, auth[s.Name]))
		}
		return writeJSON(opts.IO.Out, out)
	}
	if len(states) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No MCP servers configured. Add one with 'mcplink add <name> --url URL' or 'mcplink add <name> -- command args'.")
		return nil
	}
	printStates(opts.IO.Out, states, auth)
	return nil
}

func toServerJSON(s manager.State, a *authJSON) serverJSON {
	j := serverJSON{Name: s.Name, Type: s.Type, Status: string(s.Status), URL: s.URL, Command: s.Command, Transport: s.Transport, Error: stateError(s), Auth: a}
	if s.Status == manager.StatusConnected {
		n := len(s.Tools)
		j.Tools = &n
	}
	return j
}

func printStates(w io.Writer, states []manager.State, auth map[string]*authJSON) {
	rows := [][]string{{"NAME", "STATUS", "TOOLS", "AUTH", "TARGET"}}
	for _, s := range states {
		tools := "-"
		if s.Status == manager.StatusConnected {
			tools = fmt.Sprint(len(s.Tools))
		}
		authCol := "-"
		if a := auth[s.Name]; a != nil && !(s.Status == manager.StatusConnected && a.State == string(oauth.StateNotAuthenticated)) {
			// A server that connected without credentials needs none: "-".
			authCol = a.State
		}
		// Names, commands and URLs come from config files, which may be a
		// project's; keep every cell on one line and free of controls.
		rows = append(rows, []string{termtext.Line(s.Name), string(s.Status), tools, termtext.Line(authCol), termtext.Line(target(s))})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for i, r := range rows {
		var b strings.Builder
		for j, c := range r {
			if j == len(r)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s  ", widths[j], c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if i == 0 {
			continue
		}
		// The error often quotes the server (its stderr, a JSON-RPC error).
		if e := termtext.Clean(stateError(states[i-1])); e != "" {
			for k, line := range strings.Split(strings.TrimRight(e, "\n"), "\n") {
				prefix := "  error: "
				if k > 0 {
					prefix = "         "
				}
				fmt.Fprintln(w, prefix+line)
			}
		}
	}
}

func target(s manager.State) string {
	if s.Type == config.TypeLocal {
		return strings.Join(s.Command, " ")
	}
	return s.URL
}

// writeJSON writes v as indented JSON. Strings keep their exact text:
// encoding/json escapes C0 controls, and writeJSON also escapes the ones it
// leaves raw (DEL, C1, bidi overrides; see termtext.Drop), so --json output
// printed on a terminal cannot drive it either.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeJSONControls(buf.Bytes()))
	return err
}

// escapeJSONControls rewrites the characters termtext.Drop rejects that
// encoding/json leaves raw as \uXXXX escapes. They can only occur inside
// JSON strings (the rest of the document is ASCII), so the document means
// the same.
func escapeJSONControls(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r >= 0x7f && termtext.Drop(r) {
			break
		}
		i += n
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r >= 0x7f && termtext.Drop(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}
