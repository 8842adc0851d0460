package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/oauth"
)

// DebugOptions are the options of `mcplink debug`.
type DebugOptions struct {
	F    *Factory
	Name string
}

// NewCmdDebug builds `mcplink debug`.
func NewCmdDebug(f *Factory, runF func(context.Context, *DebugOptions) error) *cobra.Command {
	opts := &DebugOptions{F: f}
	cmd := &cobra.Command{
		Use:   "debug <server>",
		Short: "Show every step of a remote server's auth discovery, and the stored token (masked)",
		Long: `Probe a remote server without credentials and print each discovery step: the
URLs tried and their HTTP statuses, the WWW-Authenticate challenge, the protected
resource metadata, the chosen authorization server and its metadata, how a client
would be obtained, the scopes that would be requested, and the stored credentials
with the token masked. Nothing is stored and no browser opens.`,
		Args: exactArgs(1, "a server name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return debugRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func debugRun(ctx context.Context, opts *DebugOptions) error {
	f := opts.F
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	e, err := cfg.Lookup(opts.Name)
	if err != nil {
		return usageError("%w", err)
	}
	w := f.IO.Out
	fmt.Fprintf(w, "server:   %s (%s, from %s)\n", e.Name, e.Type, e.Source)
	if e.Type != config.TypeRemote {
		fmt.Fprintf(w, "command:  %s\n", strings.Join(e.Command, " "))
		fmt.Fprintln(w, "Local servers use no OAuth; run 'mcplink list' to see whether it starts.")
		return nil
	}
	fmt.Fprintf(w, "url:      %s\n", e.URL)
	if len(e.Headers) > 0 {
		keys := make([]string, 0, len(e.Headers))
		for k := range e.Headers {
			keys = append(keys, k)
		}
		fmt.Fprintf(w, "headers:  %s (values hidden)\n", strings.Join(keys, ", "))
	}
	if e.OAuthDisabled {
		fmt.Fprintln(w, "oauth:    false (OAuth is never used for this server)")
		return nil
	}
	eng, closeEng, err := f.engine(false)
	if err != nil {
		return err
	}
	defer closeEng()

	fmt.Fprintln(w, "\nDiscovery:")
	d, derr := eng.Discover(ctx, e, func(s oauth.Step) {
		mark := " "
		if s.Used {
			mark = "✓"
		}
		status := "-"
		if s.Status != 0 {
			status = fmt.Sprint(s.Status)
		}
		line := fmt.Sprintf("  %s %-22s %-4s %-4s %s", mark, s.Phase, s.Method, status, s.URL)
		if s.Err != "" {
			line += "  (" + s.Err + ")"
		}
		if s.Note != "" {
			line += "  — " + s.Note
		}
		fmt.Fprintln(w, line)
	})
	if d != nil {
		fmt.Fprintln(w)
		if c := d.Challenge; c != nil {
			parts := []string{c.Scheme}
			for _, kv := range [][2]string{{"scope", c.Scope}, {"error", c.Error}, {"error_description", c.ErrorDescription}} {
				if kv[1] != "" {
					parts = append(parts, fmt.Sprintf("%s=%q", kv[0], kv[1]))
				}
			}
			fmt.Fprintf(w, "challenge:            %s\n", strings.Join(parts, " "))
		}
		kv := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "%-21s %s\n", k+":", v)
			}
		}
		kv("resource metadata", d.ResourceMetadataURL)
		kv("resource", d.Resource)
		kv("authorization server", d.Issuer)
		kv("AS metadata", d.AuthServerMetadataURL)
		kv("fallback", d.Fallback)
		kv("client", d.RegistrationMethod)
		if len(d.Scopes) > 0 {
			kv("scopes to request", strings.Join(d.Scopes, " "))
		} else {
			kv("scopes to request", "(none)")
		}
		kv("redirect URI", oauth.RedirectURI(e))
		dpop := "no"
		if len(d.DPoPAlgs) > 0 || d.ResourceAcceptsDPoP {
			use, err := oauth.WillUseDPoP(e, d)
			switch {
			case err != nil:
				dpop = err.Error()
			case use:
				dpop = "yes: tokens will be DPoP-bound"
			default:
				dpop = "no"
			}
			dpop += fmt.Sprintf(" (authorization server algs: %s; MCP server accepts DPoP: %v)", orDash(strings.Join(d.DPoPAlgs, " ")), d.ResourceAcceptsDPoP)
		}
		kv("DPoP", dpop)
	}

	fmt.Fprintln(w, "\nStored credentials:")
	store, err := f.Store()
	if err != nil {
		return err
	}
	c, err := store.Load(ctx, e.Name)
	switch {
	case err != nil:
		fmt.Fprintf(w, "  none (%v)\n", err)
	default:
		printCreds(w, e, c)
	}
	if derr != nil {
		return fmt.Errorf("discovery failed: %w", derr)
	}
	return nil
}

func printCreds(w interface{ Write([]byte) (int, error) }, e *config.Entry, c *authstore.Credentials) {
	fmt.Fprintf(w, "  server URL: %s", c.ServerURL)
	if !c.ForURL(e.URL) {
		fmt.Fprintf(w, "  (differs from the configured URL: these credentials will not be used)")
	}
	fmt.Fprintln(w)
	if c.Issuer != "" {
		fmt.Fprintf(w, "  issuer:     %s\n", c.Issuer)
	}
	if c.Client != nil {
		how := "pre-registered/metadata document"
		if c.Client.Dynamic {
			how = "dynamic registration"
		}
		fmt.Fprintf(w, "  client:     %s (%s, %s)\n", c.Client.ClientID, how, orDash(c.Client.TokenEndpointAuthMethod))
	}
	if c.Token == nil {
		fmt.Fprintln(w, "  token:      none")
		return
	}
	fmt.Fprintf(w, "  token:      %s (%s)\n", mask(c.Token.AccessToken), orDash(c.Token.TokenType))
	if !c.Token.Expiry.IsZero() {
		d := time.Until(c.Token.Expiry).Round(time.Second)
		if d > 0 {
			fmt.Fprintf(w, "  expires:    %s (in %s)\n", c.Token.Expiry.Format(time.RFC3339), d)
		} else {
			fmt.Fprintf(w, "  expires:    %s (expired %s ago)\n", c.Token.Expiry.Format(time.RFC3339), -d)
		}
	}
	if c.Token.RefreshToken != "" {
		fmt.Fprintf(w, "  refresh:    %s\n", mask(c.Token.RefreshToken))
	}
	if c.Token.Scope != "" {
		fmt.Fprintf(w, "  scopes:     %s\n", c.Token.Scope)
	}
}

// mask shows only the first 4 characters of a secret and its length.
func mask(s string) string {
	if s == "" {
		return "(empty)"
	}
	if len(s) <= 8 {
		return strings.Repeat("•", len(s))
	}
	return fmt.Sprintf("%s… (%d chars)", s[:4], len(s))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
