package proxy_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/oauth"
	"github.com/mcplink/mcplink/proxy"
)

// Run the proxy in-process: a stdio MCP client on one side (here go-sdk's
// client over two pipes; `mcplink proxy` uses the process's stdin and
// stdout), an OAuth-protected Streamable HTTP server on the other. The
// proxy signs in on the first 401 through the engine's interactive handler
// and forwards every message unchanged; tools/list results lose the tools
// that IgnoreTools matches. Run returns once the client's side of in is
// closed and the remote session is ended.
func ExampleRun() {
	as, err := oauthtest.Start(oauthtest.Options{}) // AS + protected MCP server on 127.0.0.1
	if err != nil {
		log.Fatal(err)
	}
	defer as.Close()
	dir, err := os.MkdirTemp("", "proxy-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	callbacks := callback.New(callback.Options{})
	defer callbacks.Close()
	eng := oauth.New(oauth.Options{Store: store, Callbacks: callbacks, OpenURL: oauthtest.FollowRedirects})
	server := oauth.Server("example", as.MCPURL)
	server.OAuth.CallbackPort = examplePort()

	clientIn, proxyOut := io.Pipe() // proxy → client
	proxyIn, clientOut := io.Pipe() // client → proxy
	done := make(chan error, 1)
	go func() {
		done <- proxy.Run(ctx, proxyIn, proxyOut, proxy.Options{
			URL:         server.URL,
			OAuth:       eng.InteractiveHandler(server),
			IgnoreTools: []string{"who*"},
		})
		proxyOut.Close() // the client sees the end of the stream
	}()

	client := mcp.NewClient(&mcp.Implementation{Name: "stdio-client", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &mcp.IOTransport{Reader: clientIn, Writer: clientOut}, nil)
	if err != nil {
		log.Fatal(err)
	}
	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tools.Tools {
		fmt.Println("tool:", t.Name)
	}
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "through the proxy"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)

	session.Close() // closes clientOut: the proxy's stdin ends
	fmt.Println("proxy returned:", <-done)
	// Output:
	// tool: add
	// tool: echo
	// through the proxy
	// proxy returned: <nil>
}

// examplePort returns a loopback port that was free a moment ago, for the
// sign-in's callback listener.
func examplePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
