// Command mcplink connects to MCP servers, local or remote, with OAuth done right.
package main

import (
	"os"

	"github.com/mcplink/mcplink/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
