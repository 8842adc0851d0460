// Command client is mcplink's adapter for the official MCP conformance suite
// (@modelcontextprotocol/conformance, client side).
//
// The suite starts it as `client <server-url>` with the scenario name in
// MCP_CONFORMANCE_SCENARIO, the protocol version in
// MCP_CONFORMANCE_PROTOCOL_VERSION and optional scenario data (credentials,
// tool calls) as JSON in MCP_CONFORMANCE_CONTEXT. Non-auth scenarios drive the
// go-sdk client the way go-sdk's own conformance client does; auth scenarios go
// through mcplink's real OAuth engine, callback server and credential store,
// configured exactly as a user's config entry would configure them.
//
// Run it through scripts/conformance.sh.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	mcplinkoauth "github.com/mcplink/mcplink/oauth"
)

// scenarioTimeout stays below the per-scenario limit scripts/conformance.sh
// gives the suite (60 s) so that a hung scenario reports its own error
// instead of being killed.
const scenarioTimeout = 50 * time.Second

// run is one scenario.
type run func(ctx context.Context, env *scenarioEnv) error

// scenarioEnv is what the harness hands the client.
type scenarioEnv struct {
	Name            string
	ServerURL       string
	ProtocolVersion string
	// Context is MCP_CONFORMANCE_CONTEXT decoded (nil when unset).
	Context map[string]any
}

func scenarios() map[string]run {
	return map[string]run{
		"initialize":                          runListTools,
		"tools_call":                          runToolsCall,
		"request-metadata":                    runConnectOnly,
		"elicitation-sep1034-client-defaults": runElicitationDefaults,
		"sse-retry":                           runSSERetry,
		"json-schema-ref-no-deref":            runJSONSchemaRefNoDeref,
		"json-schema-2020-12-preservation":    runJSONSchemaPreservation,
		"sep-2322-client-request-state":       runRequestState,
		"http-standard-headers":               runHTTPStandardHeaders,
		"http-custom-headers":                 runHTTPCustomHeaders,
		"http-invalid-tool-headers":           runHTTPInvalidToolHeaders,
	}
}

func main() {
	log.SetFlags(log.Lmicroseconds)
	log.SetPrefix("conformance-client: ")
	if err := mainErr(os.Args[1:]); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func mainErr(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: client [args...] <server-url> (with MCP_CONFORMANCE_SCENARIO set)")
	}
	env := &scenarioEnv{
		Name:            os.Getenv("MCP_CONFORMANCE_SCENARIO"),
		ServerURL:       args[len(args)-1],
		ProtocolVersion: os.Getenv("MCP_CONFORMANCE_PROTOCOL_VERSION"),
	}
	if env.Name == "" {
		return errors.New("MCP_CONFORMANCE_SCENARIO is not set; run this through scripts/conformance.sh")
	}
	if raw := os.Getenv("MCP_CONFORMANCE_CONTEXT"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &env.Context); err != nil {
			return fmt.Errorf("decode MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}

	fn, ok := scenarios()[env.Name]
	if !ok && strings.HasPrefix(env.Name, "auth/") {
		fn, ok = runAuth, true
	}
	if !ok {
		fn = runListTools // unknown scenarios get the plain connect + tools/list
		log.Printf("scenario %q has no dedicated behaviour; connecting and listing tools", env.Name)
	}
	log.Printf("scenario %s, protocol %s", env.Name, env.ProtocolVersion)
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	if err := fn(ctx, env); err != nil {
		return fmt.Errorf("scenario %s: %w", env.Name, err)
	}
	return nil
}

// connect opens a go-sdk client session over Streamable HTTP.
func connect(ctx context.Context, serverURL string, opts *mcp.ClientOptions, oauth auth.OAuthHandler) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "mcplink-conformance", Version: "1.0.0"}, opts)
	// As in mcplink's manager: the one credential transport sends the
	// token (and DPoP proof) to the server's origin and answers 401/403.
	t, err := mcplinkoauth.NewTransport(mcplinkoauth.TransportOptions{ServerURL: serverURL, Handler: oauth})
	if err != nil {
		return nil, err
	}
	transport := &mcp.StreamableClientTransport{Endpoint: serverURL, HTTPClient: t.Client(), MaxEventSize: -1}
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return cs, nil
}

func findTool(tools []*mcp.Tool, name string) *mcp.Tool {
	i := slices.IndexFunc(tools, func(t *mcp.Tool) bool { return t.Name == name })
	if i < 0 {
		return nil
	}
	return tools[i]
}

// callListedTool lists tools and calls name with args; the tool must be listed.
func callListedTool(ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any) error {
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if findTool(tools.Tools, name) == nil {
		return fmt.Errorf("tool %q not listed", name)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args}); err != nil {
		return fmt.Errorf("tools/call %s: %w", name, err)
	}
	return nil
}

func runConnectOnly(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	return cs.Close()
}

func runListTools(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	return nil
}

func runToolsCall(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	return callListedTool(ctx, cs, "add_numbers", map[string]any{"a": 5, "b": 3})
}

// runElicitationDefaults accepts with empty content so that the server's
// schema defaults apply (SEP-1034).
func runElicitationDefaults(ctx context.Context, env *scenarioEnv) error {
	opts := &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
		},
	}
	cs, err := connect(ctx, env.ServerURL, opts, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	return callListedTool(ctx, cs, "test_client_elicitation_defaults", map[string]any{})
}

// runSSERetry calls a tool whose SSE stream the server cuts; the transport
// must reconnect after the advertised retry delay with Last-Event-ID.
func runSSERetry(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	return callListedTool(ctx, cs, "test_reconnection", map[string]any{})
}

// runJSONSchemaRefNoDeref lists tools; the referee checks that no network
// $ref is fetched.
func runJSONSchemaRefNoDeref(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		log.Printf("tools/list: %v", err)
	}
	return nil
}

// runJSONSchemaPreservation echoes the focal tool's input schema back
// verbatim so the referee can see which keywords survived.
func runJSONSchemaPreservation(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	focal := findTool(tools.Tools, "json_schema_2020_12_tool")
	if focal == nil {
		return errors.New(`tool "json_schema_2020_12_tool" not listed`)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{
		Name:      "json_schema_echo",
		Arguments: map[string]any{"schema": focal.InputSchema},
	}); err != nil {
		return fmt.Errorf("tools/call json_schema_echo: %w", err)
	}
	return nil
}

// runRequestState drives SEP-2322 multi-round-trip tools; the SDK's MRTR
// middleware answers embedded elicitations and echoes requestState. Some
// calls are meant to be rejected locally, so their errors are only logged.
func runRequestState(ctx context.Context, env *scenarioEnv) error {
	opts := &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{}},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirmed": true}}, nil
		},
	}
	cs, err := connect(ctx, env.ServerURL, opts, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	for _, name := range []string{"test_mrtr_echo_state", "test_mrtr_no_state", "test_mrtr_unrelated", "test_mrtr_no_result_type"} {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}}); err != nil {
			log.Printf("tools/call %s: %v (some are rejected on purpose)", name, err)
		}
	}
	return nil
}

// runHTTPStandardHeaders exercises one tool, resource and prompt so the
// referee sees Mcp-Method / Mcp-Name headers on each.
func runHTTPStandardHeaders(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	if tools, err := cs.ListTools(ctx, nil); err == nil && len(tools.Tools) > 0 {
		_, _ = cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.Tools[0].Name, Arguments: map[string]any{}})
	}
	if res, err := cs.ListResources(ctx, nil); err == nil && len(res.Resources) > 0 {
		_, _ = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: res.Resources[0].URI})
	}
	if prompts, err := cs.ListPrompts(ctx, nil); err == nil && len(prompts.Prompts) > 0 {
		_, _ = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: prompts.Prompts[0].Name, Arguments: map[string]string{}})
	}
	return nil
}

// runHTTPCustomHeaders makes the tool calls the context lists, after
// tools/list, so the SDK derives Mcp-Param-* headers from the schemas.
func runHTTPCustomHeaders(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	calls, _ := env.Context["toolCalls"].([]any)
	for _, item := range calls {
		obj, _ := item.(map[string]any)
		name, _ := obj["name"].(string)
		args, _ := obj["arguments"].(map[string]any)
		if name == "" {
			continue
		}
		if args == nil {
			args = map[string]any{}
		}
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args}); err != nil {
			log.Printf("tools/call %s: %v", name, err)
		}
	}
	return nil
}

// runHTTPInvalidToolHeaders calls every tool that survived tools/list; tools
// with invalid header annotations must have been dropped by the SDK.
func runHTTPInvalidToolHeaders(ctx context.Context, env *scenarioEnv) error {
	cs, err := connect(ctx, env.ServerURL, nil, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	for _, t := range tools.Tools {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: t.Name, Arguments: map[string]any{"region": "us-west1"}}); err != nil {
			log.Printf("tools/call %s rejected: %v", t.Name, err)
		}
	}
	return nil
}
