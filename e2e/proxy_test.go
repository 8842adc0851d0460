package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestProxyDPoPBoundTokens: `mcplink proxy` in front of a server that takes
// DPoP-bound tokens, for a real stdio MCP client: every request the proxy
// forwards carries the DPoP scheme and a valid proof (a DPoP-bound token sent
// as Bearer is refused by this server), over Streamable HTTP and over the SSE
// fallback.
func TestProxyDPoPBoundTokens(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  idpConfig
	}{
		{"streamable", idpConfig{AccessTokenTTL: time.Hour, DPoP: true, ServerDPoP: true}},
		{"sse", idpConfig{AccessTokenTTL: time.Hour, DPoP: true, ServerDPoP: true, ServerSSE: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sharedEnv(t, tc.cfg)
			dumpLogsOnFailure(t, e)
			c := newClient(t, e)
			cr := authenticate(t, c, signInOptions{})
			if !strings.EqualFold(cr.Token.TokenType, "DPoP") {
				t.Fatalf("stored token type %q, want DPoP", cr.Token.TokenType)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.Command(mcplinkBin, "proxy", serverName)
			cmd.Dir = c.dir
			cmd.Env = c.environ()
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			before, rejected := e.RS.validProofs(), e.RS.rejections()
			client := mcp.NewClient(&mcp.Implementation{Name: "e2e-stdio-client", Version: "1"}, nil)
			cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
			if err != nil {
				t.Fatalf("connecting through mcplink proxy: %v\nproxy stderr:\n%s\nthe MCP server's last refusal: %v", err, stderr.String(), e.RS.lastRejection())
			}
			defer cs.Close()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
			if err != nil || res.IsError {
				t.Fatalf("whoami through the proxy: %v %+v\nproxy stderr:\n%s\nthe MCP server's last refusal: %v", err, res, stderr.String(), e.RS.lastRejection())
			}
			// initialize, initialized, tools/call at least (plus the SSE stream).
			if got := e.RS.validProofs() - before; got < 3 {
				t.Errorf("the MCP server saw %d valid DPoP proofs through the proxy, want at least 3", got)
			}
			if got := e.RS.rejections() - rejected; got != 0 {
				t.Errorf("the MCP server refused %d requests through the proxy (last: %v)\nproxy stderr:\n%s", got, e.RS.lastRejection(), stderr.String())
			}
		})
	}
}
