package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
)

// ResourcesOptions are the options of `mcplink resources`.
type ResourcesOptions struct {
	IO         *IOStreams
	ConnectOne connectOneFunc
	Diag       diagFunc

	Server  string
	URI     string // empty: list
	Output  string // -o FILE
	JSON    bool
	Timeout time.Duration
}

// NewCmdResources builds `mcplink resources`.
func NewCmdResources(f *Factory, runF func(context.Context, *ResourcesOptions) error) *cobra.Command {
	opts := &ResourcesOptions{IO: f.IO, ConnectOne: f.connectOne, Diag: f.diag}
	cmd := &cobra.Command{
		Use:   "resources <server> [uri]",
		Short: "List a server's resources, or read one",
		Long: `Without a URI, list the resources and resource templates of a server.
With one, read that resource: text is printed; binary content (a blob) is
written with -o FILE, or to stdout when stdout is not a terminal — never to a
terminal. -o FILE writes the exact bytes of text content too.`,
		Example: `  mcplink resources docs
  mcplink resources docs file:///README.md
  mcplink resources docs file:///logo.png -o logo.png`,
		Args: rangeArgs(1, 2, "<server> [uri]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if len(args) == 2 {
				opts.URI = args[1]
			}
			if opts.Output != "" && opts.URI == "" {
				return usageError("resources: -o needs a resource URI (see 'mcplink resources --help')")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return whenInterrupted(cmd.Context(), resourcesRun(cmd.Context(), opts))
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the resource's content to `FILE`")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON: the list, or the ReadResourceResult (blobs in base64)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "connect timeout")
	return cmd
}

// connectOne connects to one configured server and returns its manager; the
// caller must call closeM.
func (f *Factory) connectOne(ctx context.Context, server string, timeout time.Duration) (m *manager.Manager, closeM func(), err error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	if _, err := cfg.Lookup(server); err != nil {
		return nil, nil, usageError("%w", err)
	}
	m, _, closeM, err = f.newManager(cfg, timeout)
	if err != nil {
		return nil, nil, err
	}
	st, err := m.Connect(ctx, server)
	if st.Status != manager.StatusConnected {
		closeM()
		if st.Status == "" && err != nil {
			return nil, nil, err
		}
		return nil, nil, notConnectedError(st)
	}
	return m, closeM, nil
}

// unsupported words a manager.UnsupportedError for people (exit 1: the
// server works, it just has none).
func unsupported(err error) error {
	var ue *manager.UnsupportedError
	if errors.As(err, &ue) {
		return fmt.Errorf("server %q offers no %s (its initialize answer declares no %q capability)", ue.Server, ue.Feature, ue.Feature)
	}
	return err
}

type resourceListJSON struct {
	Resources         []*mcp.Resource         `json:"resources"`
	ResourceTemplates []*mcp.ResourceTemplate `json:"resourceTemplates"`
}

func resourcesRun(ctx context.Context, opts *ResourcesOptions) error {
	m, closeM, err := opts.ConnectOne(ctx, opts.Server, opts.Timeout)
	if err != nil {
		return err
	}
	defer closeM()
	if opts.URI != "" {
		return readResource(ctx, m, opts)
	}
	res, tmpls, err := m.Resources(ctx, opts.Server)
	if err != nil {
		return unsupported(err)
	}
	sort.Slice(res, func(i, j int) bool { return res[i].URI < res[j].URI })
	sort.Slice(tmpls, func(i, j int) bool { return tmpls[i].URITemplate < tmpls[j].URITemplate })
	if opts.JSON {
		if res == nil {
			res = []*mcp.Resource{}
		}
		if tmpls == nil {
			tmpls = []*mcp.ResourceTemplate{}
		}
		return writeJSON(opts.IO.Out, resourceListJSON{Resources: res, ResourceTemplates: tmpls})
	}
	w := opts.IO.Out
	fmt.Fprintf(w, "%s (%d resources, %d templates)\n", termtext.Line(opts.Server), len(res), len(tmpls))
	for _, r := range res {
		fmt.Fprintf(w, "  %s%s\n", termtext.Line(r.URI), resourceNote(r.Name, r.Title, r.Description, r.MIMEType))
	}
	if len(tmpls) > 0 {
		fmt.Fprintln(w, "templates:")
		for _, t := range tmpls {
			fmt.Fprintf(w, "  %s%s\n", termtext.Line(t.URITemplate), resourceNote(t.Name, t.Title, t.Description, t.MIMEType))
		}
	}
	return nil
}

// resourceNote is " — title: description (mime)" on one clean line.
func resourceNote(name, title, desc, mime string) string {
	label := title
	if label == "" {
		label = name
	}
	s := ""
	if label != "" {
		s = label
	}
	if desc != "" {
		if s != "" {
			s += ": "
		}
		s += oneLine(desc)
	}
	if mime != "" {
		if s != "" {
			s += " "
		}
		s += "(" + mime + ")"
	}
	if s == "" {
		return ""
	}
	return " — " + termtext.Line(s)
}

func readResource(ctx context.Context, m *manager.Manager, opts *ResourcesOptions) error {
	res, err := m.ReadResource(ctx, opts.Server, opts.URI)
	if err != nil {
		return unsupported(err)
	}
	if opts.Output != "" {
		if len(res.Contents) != 1 {
			return fmt.Errorf("resource %s has %d parts; -o writes exactly one (use --json to get them all)", opts.URI, len(res.Contents))
		}
		c := res.Contents[0]
		data := c.Blob
		if c.Blob == nil {
			data = []byte(c.Text)
		}
		if err := writeFileAtomic(opts.Output, data); err != nil {
			return err
		}
		if opts.JSON {
			return writeJSON(opts.IO.Out, res)
		}
		opts.Diag("wrote %d bytes (%s) to %s", len(data), orUnknown(c.MIMEType), opts.Output)
		return nil
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, res)
	}
	for _, c := range res.Contents {
		if c.Blob != nil && isTerminal(opts.IO.Out) {
			return usageError("resource %s is binary (%s, %d bytes): not printing it on a terminal; save it with -o FILE, or use --json", c.URI, orUnknown(c.MIMEType), len(c.Blob))
		}
	}
	for _, c := range res.Contents {
		if c.Blob != nil {
			if _, err := opts.IO.Out.Write(c.Blob); err != nil { // stdout is a file or a pipe: the exact bytes
				return err
			}
			continue
		}
		w := termtext.Writer(opts.IO.Out)
		fmt.Fprint(w, c.Text)
		if c.Text != "" && c.Text[len(c.Text)-1] != '\n' {
			fmt.Fprintln(w)
		}
	}
	return nil
}

func orUnknown(mime string) string {
	if mime == "" {
		return "unknown type"
	}
	return mime
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so that an interrupted write never leaves half a file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
