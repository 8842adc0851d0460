package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/oauth"
	"github.com/mcplink/mcplink/tui"
)

// Pickers for `mcplink auth` and `mcplink logout` without a server name on
// a terminal, like `opencode mcp auth`. Without a terminal the commands keep
// their behaviour: auth signs in to every server that needs it, logout asks
// for a name or --all.

// pickSignIn lets a person at a terminal choose which of names (servers
// that need a sign-in) to sign in to; "all of them" keeps every name.
// Elsewhere, or with one name, it returns names unchanged.
func (f *Factory) pickSignIn(ctx context.Context, names []string) ([]string, error) {
	if len(names) < 2 || !f.interactive() {
		return names, nil
	}
	items := []tui.PickItem{{Label: fmt.Sprintf("all of them (%d)", len(names))}}
	for _, n := range names {
		items = append(items, tui.PickItem{Label: n, Hint: "needs sign-in"})
	}
	i, err := tui.Pick(ctx, "Sign in to which MCP server?", items, tui.RunOptions{In: f.IO.In, Out: f.IO.ErrOut})
	if err != nil {
		return nil, pickError(err)
	}
	if i == 0 {
		return names, nil
	}
	return []string{names[i-1]}, nil
}

// pickLogout lets a person at a terminal choose which of names (servers
// with stored tokens) to log out of.
func (f *Factory) pickLogout(ctx context.Context, cfg *config.Config, names []string) ([]string, error) {
	if len(names) == 0 {
		f.diag("No server has stored credentials.")
		return nil, nil
	}
	states := map[string]oauth.AuthStatus{}
	if cfg != nil {
		if eng, closeEng, err := f.engine(false); err == nil {
			var entries []*config.Entry
			for _, n := range names {
				if e := cfg.Servers[n]; e != nil && e.Untrusted == nil {
					entries = append(entries, e)
				}
			}
			states, _ = eng.Statuses(ctx, entries)
			closeEng()
		}
	}
	items := make([]tui.PickItem, len(names))
	for i, n := range names {
		items[i] = tui.PickItem{Label: n}
		if st, ok := states[n]; ok {
			items[i].Hint = string(st.State)
		}
	}
	i, err := tui.Pick(ctx, "Log out of which MCP server?", items, tui.RunOptions{In: f.IO.In, Out: f.IO.ErrOut})
	if err != nil {
		return nil, pickError(err)
	}
	return []string{names[i]}, nil
}

func pickError(err error) error {
	if errors.Is(err, tui.ErrPickCanceled) {
		return usageError("nothing chosen")
	}
	return err
}

// signedIn returns the names with stored credentials: mcplink's own, and
// opencode's that mcplink uses (a configured server of that name and URL
// and no entry of mcplink's), sorted.
func (f *Factory) signedIn(ctx context.Context, cfg *config.Config) ([]string, error) {
	store, err := f.Store()
	if err != nil {
		return nil, err
	}
	all, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	if cfg != nil {
		oc, _ := f.opencodeAuth().List(ctx)
		for n, c := range oc {
			if _, own := all[n]; own {
				continue
			}
			if e := cfg.Servers[n]; e != nil && e.Untrusted == nil && c.ForURL(e.URL) && c.Token != nil {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return names, nil
}
