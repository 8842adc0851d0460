package tui

import "charm.land/bubbles/v2/key"

// keyMap lists every binding; it implements help.KeyMap.
type keyMap struct {
	Up, Down       key.Binding
	Auth, Copy     key.Binding
	Device         key.Binding
	Paste          key.Binding
	Logout         key.Binding
	Reconnect      key.Binding
	Toggle         key.Binding
	Filter         key.Binding
	Tools          key.Binding
	PageUp, PageDn key.Binding
	Cancel         key.Binding
	Help           key.Binding
	Quit           key.Binding
	Yes, No        key.Binding
	// Select is shown in the short help in place of Up and Down.
	Select key.Binding
	// SignIn is shown in the short help in place of Auth and Device.
	SignIn key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:        key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:      key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Select:    key.NewBinding(key.WithKeys("up", "down", "j", "k"), key.WithHelp("↑↓", "select")),
		SignIn:    key.NewBinding(key.WithKeys("a", "d"), key.WithHelp("a/d", "sign in")),
		Auth:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "sign in (opens the browser)")),
		Device:    key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "sign in with a device code")),
		Copy:      key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy sign-in URL")),
		Paste:     key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "paste redirect URL")),
		Logout:    key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "logout")),
		Reconnect: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reconnect")),
		Toggle:    key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "enable/disable")),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Tools:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "tools")),
		PageUp:    key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "scroll details up")),
		PageDn:    key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "scroll details down")),
		Cancel:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel sign-in / clear filter")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "more keys")),
		Quit:      key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Yes:       key.NewBinding(key.WithKeys("y", "Y", "enter"), key.WithHelp("y", "confirm")),
		No:        key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n", "cancel")),
	}
}

// ShortHelp implements help.KeyMap.
func (k keyMap) ShortHelp() []key.Binding {
	short := func(b key.Binding, desc string) key.Binding {
		b.SetHelp(b.Help().Key, desc)
		return b
	}
	return []key.Binding{k.Select, k.SignIn, k.Logout, k.Reconnect, short(k.Toggle, "on/off"), short(k.Help, "more"), k.Quit}
}

// FullHelp implements help.KeyMap.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Filter, k.Tools},
		{k.Auth, k.Device, k.Copy, k.Paste, k.Cancel, k.Logout},
		{k.Reconnect, k.Toggle, k.PageUp, k.PageDn},
		{k.Help, k.Quit},
	}
}
