// Package tui is mcplink's terminal dashboard (`mcplink tui`): every
// configured server's state at a glance, with authentication, logout,
// reconnect and enable/disable one key away.
//
// The Model is a bubbletea v2 model over a small Backend interface, so its
// Update can be driven by tests without a terminal. All network and disk work
// runs in tea.Cmds; Update and View never block. Only this package imports
// the charm.land libraries.
package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// Options configures a Model.
type Options struct {
	// FlowTimeout bounds a sign-in started with `a`; default oauth.DefaultFlowTimeout.
	FlowTimeout time.Duration
	// ConnectTimeout bounds each connect attempt on top of the entry's own
	// timeout; zero means none.
	ConnectTimeout time.Duration
	// NoColor renders without colours (the status word is always shown).
	NoColor bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NoAutoConnect skips connecting every enabled server at start.
	NoAutoConnect bool
}

// Messages produced by the model's commands.
type (
	eventMsg   struct{ ev manager.Event }
	statesMsg  struct{ states []manager.State }
	connectMsg struct {
		op    int
		name  string
		state manager.State
		err   error
	}
	authStatusMsg struct {
		op   int
		name string
		st   oauth.AuthStatus
		ok   bool
		err  error
	}
	authBegunMsg struct {
		id   int
		flow AuthFlow
		err  error
	}
	authDoneMsg struct {
		id  int
		err error
	}
	// browserMsg reports that opening the browser of sign-in id failed
	// (it opens concurrently, so this may come while the flow waits).
	browserMsg struct {
		id  int
		err error
	}
	logoutMsg struct {
		op   int
		name string
		res  *oauth.LogoutResult
		err  error
	}
	enabledMsg struct {
		op      int
		name    string
		enabled bool
		state   manager.State
		err     error
	}
	pasteMsg struct {
		id  int
		err error
	}
	tickMsg struct{ id int }
)

// authInfo is the last known OAuth state of a server.
type authInfo struct {
	st  oauth.AuthStatus
	err error
}

// modeKind is what the keys go to. There is exactly one at a time, so no
// combination of flags can leave a key with two meanings.
type modeKind int

const (
	// modeBrowse: keys move the selection and act on the selected server.
	modeBrowse modeKind = iota
	// modeFilter: keys type the filter (/; enter keeps it, esc clears it).
	modeFilter
	// modeConfirmLogout: y or n answers "Log out of mode.server?" (l).
	modeConfirmLogout
	// modePaste: keys type into the sign-in's paste input (p). Only while
	// Model.flow is set: ending the flow ends the mode.
	modePaste
)

// mode is the model's input mode and what it applies to.
type mode struct {
	kind modeKind
	// server is the server whose logout awaits y/n (modeConfirmLogout).
	server string
}

// flowState is the sign-in in progress (at most one at a time).
type flowState struct {
	id       int
	name     string
	op       int // ops key of the flow's context
	flow     AuthFlow
	deadline time.Time
	device   bool // the device authorization grant (d), not the browser redirect (a)

	// Paste input (p): typed into in modePaste; pasteErr is the last refusal.
	input    textinput.Model
	pasteErr string
	pasted   bool // a paste was accepted; the token exchange runs
}

// deviceFailure is a failed device sign-in, as shown in the flow box.
type deviceFailure struct{ name, err string }

// logoutOutcome is what a logout did, as shown in the details pane.
type logoutOutcome struct {
	text   string
	failed bool // the revocation failed: the tokens may still be accepted
}

// Model is the dashboard's bubbletea model.
type Model struct {
	b      Backend
	opts   Options
	keys   keyMap
	help   help.Model
	styles styles

	width, height int

	servers []manager.State // sorted by name
	auth    map[string]authInfo
	busy    map[string]string // server → activity shown while it runs

	mode      mode
	selected  string // name of the selected server
	filter    string
	showTools bool
	scroll    int // details pane offset

	// logouts is the outcome of each server's last logout, kept in its
	// details pane (the status line is cut at the window's width) until
	// the next sign-in to it.
	logouts   map[string]logoutOutcome
	afterAuth string // server reconnecting after a sign-in (its result is announced)
	flow      *flowState
	flowSeq   int
	// deviceFail is the last failed device sign-in, kept in the flow box
	// (the pane above the details) until esc or the next sign-in.
	deviceFail *deviceFailure

	message string
	msgErr  bool

	ticking bool
	tickID  int
	frame   int

	// ops holds the cancel functions of running commands; quitting cancels them.
	ops    map[int]context.CancelFunc
	nextOp int
	quit   bool
}

// New returns a dashboard model over b.
func New(b Backend, opts Options) *Model {
	if opts.FlowTimeout <= 0 {
		opts.FlowTimeout = oauth.DefaultFlowTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := help.New()
	st := newStyles(opts.NoColor)
	h.Styles = st.help
	return &Model{
		b:       b,
		opts:    opts,
		keys:    newKeyMap(),
		help:    h,
		styles:  st,
		width:   80,
		height:  24,
		auth:    map[string]authInfo{},
		busy:    map[string]string{},
		logouts: map[string]logoutOutcome{},
		ops:     map[int]context.CancelFunc{},
	}
}

// newOp returns a context for a command; Shutdown (and quitting) cancels it.
func (m *Model) newOp(timeout time.Duration) (context.Context, int) {
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	}
	m.nextOp++
	m.ops[m.nextOp] = cancel
	return ctx, m.nextOp
}

func (m *Model) endOp(id int) {
	if cancel, ok := m.ops[id]; ok {
		cancel()
		delete(m.ops, id)
	}
}

// Shutdown cancels every running command and abandons a sign-in in progress
// (freeing its callback port). Run calls it when the program ends.
func (m *Model) Shutdown() {
	if m.flow != nil {
		if m.flow.flow != nil {
			m.flow.flow.Close()
		}
		m.dropFlow()
	}
	for id := range m.ops {
		m.endOp(id)
	}
}

// Init implements tea.Model: it loads the states, listens for events and
// connects every enabled server.
func (m *Model) Init() tea.Cmd {
	m.servers = m.b.States()
	if len(m.servers) > 0 {
		m.selected = m.servers[0].Name
	}
	cmds := []tea.Cmd{m.waitEvent()}
	for _, s := range m.servers {
		if s.Status != manager.StatusDisabled && s.Status != manager.StatusUntrusted && !m.opts.NoAutoConnect {
			cmds = append(cmds, m.connect(s.Name))
		}
		if s.Type == config.TypeRemote {
			cmds = append(cmds, m.loadAuth(s.Name))
		}
	}
	return tea.Batch(cmds...)
}

func (m *Model) waitEvent() tea.Cmd {
	ch := m.b.Events()
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return nil
		}
		return eventMsg{ev}
	}
}

func (m *Model) connect(name string) tea.Cmd {
	ctx, op := m.newOp(m.opts.ConnectTimeout)
	b := m.b
	m.busy[name] = "connecting"
	return func() tea.Msg {
		st, err := b.Connect(ctx, name)
		return connectMsg{op: op, name: name, state: st, err: err}
	}
}

func (m *Model) loadAuth(name string) tea.Cmd {
	ctx, op := m.newOp(10 * time.Second)
	b := m.b
	return func() tea.Msg {
		st, ok, err := b.AuthStatus(ctx, name)
		return authStatusMsg{op: op, name: name, st: st, ok: ok, err: err}
	}
}

// tick keeps the animation and the sign-in countdown going while needed.
func (m *Model) tick() tea.Cmd {
	if m.ticking || !m.animating() {
		return nil
	}
	m.ticking = true
	m.tickID++
	id := m.tickID
	return tea.Tick(150*time.Millisecond, func(time.Time) tea.Msg { return tickMsg{id} })
}

func (m *Model) animating() bool {
	if m.flow != nil || len(m.busy) > 0 {
		return true
	}
	for _, s := range m.servers {
		if s.Status == manager.StatusConnecting {
			return true
		}
	}
	return false
}

// visible returns the servers that match the filter.
func (m *Model) visible() []manager.State {
	if m.filter == "" {
		return m.servers
	}
	f := strings.ToLower(m.filter)
	var out []manager.State
	for _, s := range m.servers {
		if strings.Contains(strings.ToLower(s.Name), f) {
			out = append(out, s)
		}
	}
	return out
}

// cursor returns the index of the selected server among the visible ones,
// fixing the selection up when it is filtered out.
func (m *Model) cursor() int {
	vis := m.visible()
	for i, s := range vis {
		if s.Name == m.selected {
			return i
		}
	}
	if len(vis) > 0 {
		m.selected = vis[0].Name
		return 0
	}
	return -1
}

func (m *Model) current() (manager.State, bool) {
	i := m.cursor()
	if i < 0 {
		return manager.State{}, false
	}
	return m.visible()[i], true
}

func (m *Model) setState(st manager.State) {
	for i := range m.servers {
		if m.servers[i].Name == st.Name {
			m.servers[i] = st
			return
		}
	}
	m.servers = append(m.servers, st)
	for i := len(m.servers) - 1; i > 0 && m.servers[i].Name < m.servers[i-1].Name; i-- {
		m.servers[i], m.servers[i-1] = m.servers[i-1], m.servers[i]
	}
}

func (m *Model) info(format string, a ...any) {
	m.message, m.msgErr = fmt.Sprintf(format, a...), false
}

func (m *Model) fail(format string, a ...any) {
	m.message, m.msgErr = fmt.Sprintf(format, a...), true
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	if t := m.tick(); t != nil {
		cmd = tea.Batch(cmd, t)
	}
	return m, cmd
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		m.clampScroll()
		return nil
	case tea.KeyPressMsg:
		return m.key(msg)
	case tea.PasteMsg:
		// Bracketed paste: the terminal delivers the pasted text at once.
		if m.mode.kind == modePaste {
			var cmd tea.Cmd
			m.flow.input, cmd = m.flow.input.Update(msg)
			return cmd
		}
		return nil
	case pasteMsg:
		return m.pasted(msg)
	case eventMsg:
		if m.busy[msg.ev.Server] == "saving" {
			if msg.ev.State.Status != manager.StatusConnecting {
				// The server is replaced by its toggled entry: the
				// answer of SetEnabled (enabledMsg) sets its state.
				return m.waitEvent()
			}
			// An enabled server's config is saved and SetEnabled
			// connects it, which shows (and can be toggled off again)
			// as any connect does.
			m.busy[msg.ev.Server] = "connecting"
		}
		prev, _ := m.lookup(msg.ev.Server)
		m.setState(msg.ev.State)
		var cmds []tea.Cmd
		cmds = append(cmds, m.waitEvent())
		if msg.ev.State.Type == config.TypeRemote && prev.Status != msg.ev.State.Status && msg.ev.State.Status != manager.StatusConnecting {
			cmds = append(cmds, m.loadAuth(msg.ev.Server))
		}
		return tea.Batch(cmds...)
	case statesMsg:
		for _, s := range msg.states {
			m.setState(s)
		}
		return nil
	case connectMsg:
		m.endOp(msg.op)
		delete(m.busy, msg.name)
		if msg.err != nil {
			if errors.Is(msg.err, manager.ErrClosed) || errors.Is(msg.err, ErrBackendClosed) {
				return nil
			}
			m.fail("%s: %s", msg.name, fix.Message(msg.err, fix.TUI))
			return nil
		}
		if msg.state.Status == manager.StatusConnecting {
			return nil // superseded by a newer attempt; its events follow
		}
		m.setState(msg.state)
		if msg.name == m.afterAuth {
			m.afterAuth = ""
			if msg.state.Status == manager.StatusConnected {
				m.info("✓ Signed in to %s; connected, %s", msg.name, plural(len(msg.state.Tools), "tool", "tools"))
			} else {
				m.fail("Signed in to %s, but connecting failed: %s", msg.name, msg.state.Status)
			}
		}
		if msg.state.Type == config.TypeRemote {
			return m.loadAuth(msg.name)
		}
		return nil
	case authStatusMsg:
		m.endOp(msg.op)
		if !msg.ok && msg.err == nil {
			delete(m.auth, msg.name)
			return nil
		}
		m.auth[msg.name] = authInfo{st: msg.st, err: msg.err}
		return nil
	case authBegunMsg:
		return m.authBegun(msg)
	case authDoneMsg:
		return m.authDone(msg)
	case browserMsg:
		m.browserFailed(msg)
		return nil
	case logoutMsg:
		m.endOp(msg.op)
		delete(m.busy, msg.name)
		if msg.err != nil {
			m.fail("logout of %s failed: %v", msg.name, msg.err)
			return m.loadAuth(msg.name)
		}
		out := logoutText(msg.name, msg.res)
		m.logouts[msg.name] = out
		if out.failed {
			m.fail("%s", out.text)
		} else {
			m.info("%s", out.text)
		}
		cmds := []tea.Cmd{m.loadAuth(msg.name)}
		if st, ok := m.lookup(msg.name); ok && st.Status != manager.StatusDisabled && st.Status != manager.StatusUntrusted {
			cmds = append(cmds, m.connect(msg.name))
		}
		return tea.Batch(cmds...)
	case enabledMsg:
		m.endOp(msg.op)
		delete(m.busy, msg.name)
		if errors.Is(msg.err, manager.ErrClosed) || errors.Is(msg.err, ErrBackendClosed) {
			return nil
		}
		if msg.enabled && msg.err == nil && (msg.state.Status == manager.StatusConnecting || msg.state.Status == manager.StatusDisabled) {
			// Superseded while connecting (a disable or a reconnect came
			// after it); the newer operation and the events report.
			return nil
		}
		if msg.state.Name != "" {
			m.setState(msg.state)
		}
		if msg.err != nil {
			m.fail("%s: %s", msg.name, fix.Message(msg.err, fix.TUI))
			return nil
		}
		if !msg.enabled {
			m.info("Disabled %s (config updated)", msg.name)
			return nil
		}
		// SetEnabled connected the server; the outcome is in its state.
		m.info("Enabled %s (config updated); %s", msg.name, statusWord(msg.state.Status))
		if msg.state.Type == config.TypeRemote {
			return m.loadAuth(msg.name)
		}
		return nil
	case tickMsg:
		if msg.id != m.tickID {
			return nil
		}
		m.ticking = false
		m.frame++ // the flow's own context enforces the deadline; authDone reports it
		return nil
	}
	if m.mode.kind == modePaste {
		var cmd tea.Cmd // the input's cursor blink
		m.flow.input, cmd = m.flow.input.Update(msg)
		return cmd
	}
	return nil
}

func (m *Model) lookup(name string) (manager.State, bool) {
	for _, s := range m.servers {
		if s.Name == name {
			return s, true
		}
	}
	return manager.State{}, false
}

// key handles one key press.
func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	typing := m.mode.kind == modeFilter || m.mode.kind == modePaste
	if key.Matches(msg, k.Quit) && !(typing && msg.String() == "q") {
		return m.quitCmd()
	}
	switch m.mode.kind {
	case modePaste:
		return m.pasteKey(msg)
	case modeConfirmLogout:
		name := m.mode.server
		switch {
		case key.Matches(msg, k.Yes):
			m.mode = mode{}
			return m.logout(name)
		case key.Matches(msg, k.No):
			m.mode = mode{}
			m.info("Logout of %s cancelled", name)
		}
		return nil
	case modeFilter:
		return m.filterKey(msg)
	}
	switch {
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PageUp):
		m.scroll -= max(1, m.bodyHeight()/2)
		m.clampScroll()
	case key.Matches(msg, k.PageDn):
		m.scroll += max(1, m.bodyHeight()/2)
		m.clampScroll()
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.clampScroll()
	case key.Matches(msg, k.Tools):
		m.showTools = !m.showTools
		m.scroll = 0
	case key.Matches(msg, k.Filter):
		m.mode = mode{kind: modeFilter}
	case key.Matches(msg, k.Cancel):
		if m.flow == nil && m.deviceFail != nil {
			m.deviceFail = nil
			m.clampScroll()
		} else if m.flow != nil {
			device := m.flow.device
			m.cancelFlow()
			if device {
				m.info("Device sign-in cancelled")
			} else {
				m.info("Sign-in cancelled; the callback port was freed")
			}
		} else if m.filter != "" {
			m.filter = ""
		}
	case key.Matches(msg, k.Copy):
		if m.flow == nil || m.flow.flow == nil {
			m.fail("Nothing to copy: no sign-in in progress (press a or d to start one)")
			return nil
		}
		if m.flow.device {
			m.info("Verification URL copied to the clipboard")
		} else {
			m.info("Sign-in URL copied to the clipboard")
		}
		return tea.SetClipboard(m.flow.flow.URL())
	case key.Matches(msg, k.Paste):
		switch {
		case m.flow == nil:
			m.fail("Nothing to paste into: no sign-in in progress (press a to start one)")
			return nil
		case m.flow.device:
			m.fail("%v", ErrDevicePaste)
			return nil
		case m.flow.flow == nil:
			m.fail("The sign-in to %s is still starting; press p once its URL shows", m.flow.name)
			return nil
		}
		return m.openPaste()
	case key.Matches(msg, k.Auth):
		return m.startAuth(false)
	case key.Matches(msg, k.Device):
		return m.startAuth(true)
	case key.Matches(msg, k.Logout):
		st, ok := m.current()
		if !ok {
			return nil
		}
		if st.Type != config.TypeRemote {
			m.fail("%s is a local server; it has no credentials to forget", st.Name)
			return nil
		}
		m.mode = mode{kind: modeConfirmLogout, server: st.Name}
	case key.Matches(msg, k.Reconnect):
		st, ok := m.current()
		if !ok {
			return nil
		}
		if st.Status == manager.StatusDisabled {
			m.fail("%s is disabled; press e to enable it", st.Name)
			return nil
		}
		if st.Status == manager.StatusUntrusted {
			m.fail("%s", fix.State(st, fix.TUI))
			return nil
		}
		m.info("Reconnecting %s…", st.Name)
		return m.connect(st.Name)
	case key.Matches(msg, k.Toggle):
		st, ok := m.current()
		if !ok {
			return nil
		}
		if st.Status == manager.StatusUntrusted {
			m.fail("%s", fix.State(st, fix.TUI))
			return nil
		}
		if _, busy := m.busy[st.Name]; busy && m.busy[st.Name] == "saving" {
			return nil
		}
		return m.setEnabled(st.Name, st.Status == manager.StatusDisabled)
	}
	return nil
}

// openPaste shows the one-line input for the redirect URL.
func (m *Model) openPaste() tea.Cmd {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "http://127.0.0.1:…/callback?code=…&state=…  (or just the code)"
	in.CharLimit = 8192
	_, right := m.layout()
	if right == 0 {
		right = m.width
	}
	in.SetWidth(max(10, right-3))
	if m.opts.NoColor {
		plain := lipgloss.NewStyle()
		st := textinput.Styles{
			Focused: textinput.StyleState{Text: plain, Placeholder: plain, Suggestion: plain, Prompt: plain},
			Blurred: textinput.StyleState{Text: plain, Placeholder: plain, Suggestion: plain, Prompt: plain},
		}
		st.Cursor.Blink = false
		in.SetStyles(st)
	}
	m.flow.input = in
	m.mode = mode{kind: modePaste}
	m.scroll = 0 // the input is at the top of the details pane
	m.info("Paste the redirect URL and press enter (esc closes the input)")
	m.flow.pasteErr = ""
	return m.flow.input.Focus()
}

// pasteKey handles a key while the paste input is open.
func (m *Model) pasteKey(msg tea.KeyPressMsg) tea.Cmd {
	f := m.flow
	switch msg.String() {
	case "esc":
		m.mode = mode{}
		f.input.Blur()
		m.info("Paste closed; the sign-in to %s is still waiting (p pastes again, esc cancels it)", f.name)
		return nil
	case "enter":
		input := strings.TrimSpace(f.input.Value())
		if input == "" {
			f.pasteErr = "Nothing pasted: paste the URL from the browser's address bar (or just the code)"
			return nil
		}
		fl, id := f.flow, f.id
		return func() tea.Msg { return pasteMsg{id: id, err: fl.Paste(input)} }
	}
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(msg)
	return cmd
}

func (m *Model) pasted(msg pasteMsg) tea.Cmd {
	f := m.flow
	if f == nil || f.id != msg.id {
		return nil
	}
	if msg.err != nil {
		f.pasteErr = "Not accepted: " + msg.err.Error()
		return nil
	}
	f.pasted, f.pasteErr = true, ""
	if m.mode.kind == modePaste {
		m.mode = mode{}
	}
	f.input.Blur()
	m.info("Redirect accepted; finishing the sign-in to %s…", f.name)
	return nil
}

func (m *Model) filterKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "esc":
		m.mode, m.filter = mode{}, ""
	case "enter":
		m.mode = mode{}
	case "backspace":
		if r := []rune(m.filter); len(r) > 0 {
			m.filter = string(r[:len(r)-1])
		}
	case "up":
		m.move(-1)
	case "down":
		m.move(1)
	default:
		if k := msg.Key(); k.Text != "" && (k.Mod == 0 || k.Mod == tea.ModShift) {
			m.filter += k.Text
		}
	}
	m.cursor()
	m.scroll = 0
	return nil
}

func (m *Model) move(d int) {
	vis := m.visible()
	if len(vis) == 0 {
		return
	}
	i := m.cursor() + d
	i = max(0, min(len(vis)-1, i))
	if vis[i].Name != m.selected {
		m.selected = vis[i].Name
		m.scroll = 0
	}
}

func (m *Model) quitCmd() tea.Cmd {
	m.quit = true
	m.Shutdown()
	return tea.Quit
}

func (m *Model) cancelFlow() {
	if m.flow == nil {
		return
	}
	if m.flow.flow != nil {
		m.flow.flow.Close()
	}
	m.endOp(m.flow.op)
	delete(m.busy, m.flow.name)
	m.dropFlow()
}

// dropFlow forgets the sign-in, and closes its paste input if it was open.
func (m *Model) dropFlow() {
	m.flow = nil
	if m.mode.kind == modePaste {
		m.mode = mode{}
	}
}

// startAuth starts a sign-in to the selected server: the browser redirect,
// or with device the device authorization grant.
func (m *Model) startAuth(device bool) tea.Cmd {
	st, ok := m.current()
	if !ok {
		return nil
	}
	if m.flow != nil {
		m.fail("A sign-in to %s is in progress; finish it or press esc to cancel it", m.flow.name)
		return nil
	}
	switch {
	case st.Status == manager.StatusUntrusted:
		m.fail("%s", fix.State(st, fix.TUI))
		return nil
	case st.Type != config.TypeRemote:
		m.fail("%s is a local server; OAuth is only for remote servers", st.Name)
		return nil
	case st.Status == manager.StatusDisabled:
		m.fail("%s is disabled; press e to enable it first", st.Name)
		return nil
	}
	m.deviceFail = nil
	ctx, op := m.newOp(m.opts.FlowTimeout)
	m.flowSeq++
	id := m.flowSeq
	m.flow = &flowState{id: id, name: st.Name, op: op, deadline: m.opts.Now().Add(m.opts.FlowTimeout), device: device}
	m.busy[st.Name] = "signing in"
	b := m.b
	name := st.Name
	if device {
		m.info("Requesting a device code for %s…", st.Name)
		return func() tea.Msg {
			f, err := b.BeginDeviceAuth(ctx, name)
			return authBegunMsg{id: id, flow: f, err: err}
		}
	}
	m.info("Starting the sign-in to %s…", st.Name)
	return func() tea.Msg {
		f, err := b.BeginAuth(ctx, name)
		return authBegunMsg{id: id, flow: f, err: err}
	}
}

func (m *Model) authBegun(msg authBegunMsg) tea.Cmd {
	if m.flow == nil || m.flow.id != msg.id {
		if msg.flow != nil {
			msg.flow.Close() // cancelled while starting
		}
		return nil
	}
	if msg.err != nil {
		name, device := m.flow.name, m.flow.device
		m.cancelFlow()
		m.fail("Sign-in to %s failed: %s", name, fix.Message(msg.err, fix.TUI))
		if device {
			m.deviceFail = &deviceFailure{name: name, err: msg.err.Error()}
		}
		return nil
	}
	m.flow.flow = msg.flow
	m.flow.deadline = m.opts.Now().Add(m.opts.FlowTimeout)
	if df, ok := msg.flow.(DeviceFlow); m.flow.device && ok {
		if exp := df.DeviceCode().ExpiresAt; !exp.IsZero() && exp.Before(m.flow.deadline) {
			m.flow.deadline = exp
		}
		if code := df.DeviceCode().UserCode; code != "" {
			m.info("Open the URL below on any device and enter the code %s", code)
		}
	} else if err := msg.flow.ListenError(); err != nil {
		m.fail("Callback port busy: sign in, then press p and paste the URL the browser ends on")
	} else {
		m.info("Waiting for the sign-in to %s in the browser…", m.flow.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.FlowTimeout)
	// Cancelling the flow's op also cancels this wait.
	prev := m.ops[m.flow.op]
	m.ops[m.flow.op] = func() { cancel(); prev() }
	f, id := msg.flow, msg.id
	return tea.Batch(func() tea.Msg {
		return authDoneMsg{id: id, err: f.Wait(ctx)}
	}, func() tea.Msg {
		// The browser opens concurrently; a failure is shown when it comes.
		select {
		case <-f.BrowserDone():
			if err := f.BrowserError(); err != nil {
				return browserMsg{id: id, err: err}
			}
		case <-ctx.Done():
		}
		return nil
	})
}

// browserFailed says that the browser of the current sign-in could not be
// opened, unless the sign-in is over or the busy callback port's advice
// (paste) is shown: that advice holds either way.
func (m *Model) browserFailed(msg browserMsg) {
	if m.flow == nil || m.flow.id != msg.id || m.flow.flow == nil || m.flow.flow.ListenError() != nil {
		return
	}
	m.fail("Could not open a browser (%v); open the URL below or press c to copy it", msg.err)
}

func (m *Model) authDone(msg authDoneMsg) tea.Cmd {
	if m.flow == nil || m.flow.id != msg.id {
		return nil // cancelled
	}
	name, device := m.flow.name, m.flow.device
	m.cancelFlow()
	if msg.err != nil {
		if errors.Is(msg.err, context.DeadlineExceeded) {
			again := "a"
			if device {
				again = "d"
			}
			m.fail("No sign-in to %s completed within %s; press %s to try again", name, m.opts.FlowTimeout, again)
		} else {
			m.fail("Sign-in to %s failed: %s", name, fix.Message(msg.err, fix.TUI))
		}
		if device {
			m.deviceFail = &deviceFailure{name: name, err: m.message}
		}
		return m.loadAuth(name)
	}
	m.info("✓ Signed in to %s; reconnecting…", name)
	delete(m.logouts, name)
	m.afterAuth = name
	return tea.Batch(m.loadAuth(name), m.connect(name))
}

func (m *Model) logout(name string) tea.Cmd {
	ctx, op := m.newOp(10 * time.Second)
	b := m.b
	m.busy[name] = "logging out"
	return func() tea.Msg {
		res, err := b.Logout(ctx, name)
		return logoutMsg{op: op, name: name, res: res, err: err}
	}
}

// logoutText says what a logout did: whether the tokens were revoked at the
// authorization server (and if not, why), that they were deleted locally,
// and that the client registration was kept (signing in again reuses it).
// oneLine joins the lines of a multi-line text (errors.Join separates its
// errors with newlines) with "; ", for the one-line status bar.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

func logoutText(name string, res *oauth.LogoutResult) logoutOutcome {
	const kept = "client registration kept"
	if res == nil || !res.HadTokens {
		return logoutOutcome{text: fmt.Sprintf("Signed out of %s: no tokens were stored; %s", name, kept)}
	}
	notRevocable := ""
	if len(res.NotRevocable) > 0 {
		notRevocable = fmt.Sprintf(" (the authorization server cannot revoke the %s: it stays valid until it expires)", strings.Join(res.NotRevocable, " and "))
	}
	switch {
	case res.RevocationErr != nil:
		return logoutOutcome{failed: true, text: fmt.Sprintf("Signed out of %s, but revocation failed: %v; local tokens deleted anyway (the authorization server may still accept them until they expire; revoke them in the provider's settings); %s",
			name, oneLine(res.RevocationErr.Error()), kept)}
	case len(res.Revoked) > 0:
		return logoutOutcome{text: fmt.Sprintf("Signed out of %s: tokens revoked at the authorization server and deleted%s; %s", name, notRevocable, kept)}
	case res.RevocationSkipped != "":
		return logoutOutcome{text: fmt.Sprintf("Signed out of %s: not revoked (%s); local tokens deleted; %s", name, res.RevocationSkipped, kept)}
	}
	return logoutOutcome{text: fmt.Sprintf("Signed out of %s: local tokens deleted%s; %s", name, notRevocable, kept)}
}

func (m *Model) setEnabled(name string, enabled bool) tea.Cmd {
	// Enabling connects the server too: its bound is a connect's.
	timeout := 30 * time.Second
	if enabled {
		timeout = m.opts.ConnectTimeout
	}
	ctx, op := m.newOp(timeout)
	b := m.b
	m.busy[name] = "saving"
	if enabled {
		m.info("Enabling %s…", name)
	} else {
		m.info("Disabling %s…", name)
	}
	return func() tea.Msg {
		st, err := b.SetEnabled(ctx, name, enabled)
		return enabledMsg{op: op, name: name, enabled: enabled, state: st, err: err}
	}
}
