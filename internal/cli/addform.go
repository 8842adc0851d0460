package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/tui"
)

// askAdd fills opts from the guided form `mcplink add` shows on a terminal
// when it gets no arguments (tui.AskAdd).
func askAdd(ctx context.Context, opts *AddOptions) error {
	taken := func(name string) error {
		if cfg, err := opts.Config(); err == nil {
			if e, ok := cfg.Servers[name]; ok {
				return fmt.Errorf("%q is already configured in %s; choose another name", name, e.Source)
			}
		}
		return nil
	}
	a, err := tui.AskAdd(ctx, tui.RunOptions{In: opts.IO.In, Out: opts.IO.ErrOut}, taken)
	if err != nil {
		return pickError(err)
	}
	opts.Name, opts.Global = a.Name, a.Global
	switch a.Kind {
	case "local":
		opts.Command = strings.Fields(a.Command)
	default:
		opts.URL = a.URL
		switch a.Auth {
		case "header":
			k, v, _ := config.SplitHeader(a.Header)
			opts.Headers, opts.NoOAuth = []string{k + "=" + v}, true
		case "none":
			opts.NoOAuth = true
		}
	}
	return nil
}
