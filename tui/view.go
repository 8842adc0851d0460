package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

type styles struct {
	noColor                         bool
	header, title, label, dim, sel  lipgloss.Style
	green, amber, red, grey, accent lipgloss.Style
	errMsg, okMsg                   lipgloss.Style
	help                            help.Styles
}

func newStyles(noColor bool) styles {
	fg := func(c string) lipgloss.Style {
		if noColor {
			return lipgloss.NewStyle()
		}
		return lipgloss.NewStyle().Foreground(lipgloss.Color(c))
	}
	s := styles{
		noColor: noColor,
		header:  lipgloss.NewStyle().Bold(true),
		title:   lipgloss.NewStyle().Bold(true),
		label:   fg("245"),
		dim:     fg("245"),
		sel:     lipgloss.NewStyle().Reverse(true),
		green:   fg("2"),
		amber:   fg("3"),
		red:     fg("1"),
		grey:    fg("8"),
		accent:  fg("6"),
		errMsg:  fg("1"),
		okMsg:   fg("2"),
		help:    help.DefaultDarkStyles(),
	}
	if noColor {
		plain := lipgloss.NewStyle()
		s.help = help.Styles{ShortKey: plain, ShortDesc: plain, ShortSeparator: plain, Ellipsis: plain,
			FullKey: plain, FullDesc: plain, FullSeparator: plain}
	}
	return s
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// statusWord is the short status shown beside the dot (readable without colour).
func statusWord(s manager.Status) string {
	switch s {
	case manager.StatusConnected:
		return "connected"
	case manager.StatusNeedsAuth:
		return "needs auth"
	case manager.StatusFailed:
		return "failed"
	case manager.StatusNeedsClientRegistration:
		return "needs reg"
	case manager.StatusDisabled:
		return "disabled"
	case manager.StatusConnecting:
		return "connecting"
	case manager.StatusDisconnected:
		return "offline"
	case manager.StatusUntrusted:
		return "untrusted"
	}
	return string(s)
}

// dot returns the coloured status dot and word of a server.
func (m *Model) dot(st manager.State) (string, string) {
	word := statusWord(st.Status)
	if act, ok := m.busy[st.Name]; ok && act != "connecting" {
		word = act
	}
	s := m.styles
	animated := st.Status == manager.StatusConnecting || (m.flow != nil && m.flow.name == st.Name)
	if a, ok := m.busy[st.Name]; ok && a != "connecting" {
		animated = true
	}
	if animated {
		return s.amber.Render(spinnerFrames[m.frame%len(spinnerFrames)]), word
	}
	switch st.Status {
	case manager.StatusConnected:
		return s.green.Render("●"), word
	case manager.StatusNeedsAuth:
		return s.amber.Render("●"), word
	case manager.StatusFailed, manager.StatusNeedsClientRegistration:
		return s.red.Render("●"), word
	case manager.StatusDisabled:
		return s.grey.Render("○"), word
	case manager.StatusUntrusted:
		// Hollow like disabled (nothing runs), amber: it needs a decision.
		return s.amber.Render("○"), word
	}
	return s.grey.Render("●"), word
}

// summary is the header line.
func (m *Model) summary() string {
	var conn, auth, failed, disabled, connecting, untrusted int
	for _, s := range m.servers {
		switch s.Status {
		case manager.StatusConnected:
			conn++
		case manager.StatusNeedsAuth:
			auth++
		case manager.StatusFailed, manager.StatusNeedsClientRegistration:
			failed++
		case manager.StatusDisabled:
			disabled++
		case manager.StatusConnecting:
			connecting++
		case manager.StatusUntrusted:
			untrusted++
		}
	}
	parts := []string{plural(len(m.servers), "server", "servers"), fmt.Sprintf("%d connected", conn)}
	if connecting > 0 {
		parts = append(parts, fmt.Sprintf("%d connecting", connecting))
	}
	if auth > 0 {
		parts = append(parts, fmt.Sprintf("%d needs auth", auth))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	if disabled > 0 {
		parts = append(parts, fmt.Sprintf("%d disabled", disabled))
	}
	if untrusted > 0 {
		parts = append(parts, fmt.Sprintf("%d untrusted", untrusted))
	}
	return strings.Join(parts, " · ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// layout returns the widths of the list and details panes (details 0 = hidden).
func (m *Model) layout() (left, right int) {
	w := max(m.width, 20)
	left = min(40, max(26, w*45/100))
	if left > w {
		left = w
	}
	right = w - left - 3
	if right < 16 {
		return w, 0
	}
	return left, right
}

func (m *Model) footerLines() []string {
	return strings.Split(m.help.View(m.keys), "\n")
}

// bodyHeight is the number of rows for the panes.
func (m *Model) bodyHeight() int {
	return max(1, m.height-2-len(m.footerLines()))
}

func (m *Model) clampScroll() {
	_, right := m.layout()
	lines := m.detailLines(max(right, 10))
	maxOff := max(0, len(lines)-m.bodyHeight())
	m.scroll = max(0, min(m.scroll, maxOff))
}

// View implements tea.Model.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.WindowTitle = "mcplink"
	return v
}

// Render returns the screen as a string of exactly the window's height.
func (m *Model) Render() string {
	if m.quit {
		return ""
	}
	w := max(m.width, 20)
	left, right := m.layout()
	body := m.bodyHeight()

	var out []string
	out = append(out, m.styles.header.Render(ansi.Truncate("mcplink · "+m.summary(), w, "…")))

	rows := m.listLines(left, body)
	var details []string
	if right > 0 {
		details = m.detailLines(right)
		m.scroll = max(0, min(m.scroll, max(0, len(details)-body)))
		details = details[m.scroll:]
	}
	sep := m.styles.dim.Render("│")
	for i := range body {
		row := ""
		if i < len(rows) {
			row = rows[i]
		}
		if right == 0 {
			out = append(out, ansi.Truncate(row, w, ""))
			continue
		}
		row = padRight(row, left)
		d := ""
		if i < len(details) {
			d = details[i]
		}
		out = append(out, row+" "+sep+" "+d)
	}
	out = append(out, ansi.Truncate(m.statusLine(), w, "…"))
	for _, l := range m.footerLines() {
		out = append(out, ansi.Truncate(l, w, "…"))
	}
	return strings.Join(out, "\n")
}

func padRight(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return ansi.Truncate(s, w, "")
}

// listLines renders the server rows, scrolled so the selection is visible.
func (m *Model) listLines(width, height int) []string {
	vis := m.visible()
	if len(vis) == 0 {
		if len(m.servers) == 0 {
			return []string{"No servers configured.", "Add one with", "'mcplink add <name> --url <url>'."}
		}
		return []string{fmt.Sprintf("No server matches %q.", m.filter)}
	}
	cur := m.cursor()
	start := 0
	if cur >= height {
		start = cur - height + 1
	}
	nameW := max(4, width-24)
	var out []string
	for i := start; i < len(vis) && len(out) < height; i++ {
		st := vis[i]
		dot, word := m.dot(st)
		tools := ""
		if st.Status == manager.StatusConnected {
			tools = plural(len(st.Tools), "tool", "tools")
		}
		name := padRight(ansi.Truncate(termtext.Line(st.Name), nameW, "…"), nameW)
		marker := " "
		if i == cur {
			marker = "›"
		}
		line := fmt.Sprintf("%s %s %s %-10s %8s", marker, dot, name, word, tools)
		if i == cur && !m.styles.noColor {
			line = marker + " " + dot + " " + m.styles.sel.Render(fmt.Sprintf("%s %-10s %8s", name, word, tools))
		}
		out = append(out, line)
	}
	return out
}

func (m *Model) statusLine() string {
	switch {
	case m.mode.kind == modeConfirmLogout:
		return m.styles.amber.Render(fmt.Sprintf("Log out of %s? y/n — its tokens are revoked and deleted; the client registration is kept", termtext.Line(m.mode.server)))
	case m.mode.kind == modeFilter:
		return "/" + termtext.Line(m.filter) + "▏  (enter keeps the filter, esc clears it)"
	case m.message != "":
		// Messages quote servers (errors, sign-in results).
		msg := termtext.Line(m.message)
		if m.msgErr {
			return m.styles.errMsg.Render(msg)
		}
		return msg
	case m.filter != "":
		return m.styles.dim.Render(fmt.Sprintf("filter: %s (esc clears)", termtext.Line(m.filter)))
	}
	return ""
}

// detailLines renders the details pane for the selected server, wrapped to width.
func (m *Model) detailLines(width int) []string {
	// Server-controlled text (names, errors, tool descriptions, URLs from
	// metadata) passes through clean before it is styled: the styles add
	// escape sequences of their own, so the finished lines cannot be
	// cleaned.
	clean := termtext.Clean
	var lines []string
	add := func(s string) {
		lines = append(lines, strings.Split(lipgloss.Wrap(s, width, " /-"), "\n")...)
	}
	field := func(label, value string) {
		const lw = 8
		l := m.styles.label.Render(fmt.Sprintf("%-*s", lw, label))
		wrapped := strings.Split(lipgloss.Wrap(value, max(4, width-lw-1), " /-"), "\n")
		for i, wl := range wrapped {
			if i == 0 {
				lines = append(lines, l+" "+wl)
			} else {
				lines = append(lines, strings.Repeat(" ", lw+1)+wl)
			}
		}
	}
	if f := m.flow; f != nil && f.device {
		add(m.styles.title.Render(fmt.Sprintf("Device sign-in to %s", clean(f.name))))
		df, _ := f.flow.(DeviceFlow)
		switch {
		case f.flow == nil:
			add("Requesting a device code from the authorization server…")
		case df == nil || df.DeviceCode().UserCode == "":
			add("Finishing the sign-in…")
		default:
			dc := df.DeviceCode()
			left := max(0, f.deadline.Sub(m.opts.Now()))
			add("On any device, open:")
			lines = append(lines, strings.Split(ansi.Hardwrap(m.styles.accent.Render(termtext.Line(f.flow.URL())), width, false), "\n")...)
			add("and enter the code:")
			add("    " + m.styles.title.Render(termtext.Line(dc.UserCode)))
			if dc.VerificationURIComplete != "" && dc.VerificationURIComplete != dc.VerificationURI {
				add(m.styles.dim.Render("(that URL carries the code; or open " + termtext.Line(dc.VerificationURI) + " and type it)"))
			}
			add(fmt.Sprintf("Waiting for approval — code expires in %s", countdown(left)))
			add(m.styles.accent.Render("c copy URL · esc cancel"))
		}
		lines = append(lines, m.styles.dim.Render(strings.Repeat("─", width)))
	} else if df := m.deviceFail; f == nil && df != nil {
		add(m.styles.title.Render(fmt.Sprintf("Device sign-in to %s", clean(df.name))))
		add(m.styles.errMsg.Render(clean(df.err)))
		add(m.styles.accent.Render("esc closes · d tries again · a signs in with the browser"))
		lines = append(lines, m.styles.dim.Render(strings.Repeat("─", width)))
	} else if f != nil {
		add(m.styles.title.Render(fmt.Sprintf("Signing in to %s", clean(f.name))))
		if f.flow == nil {
			add("Discovering the authorization server…")
		} else {
			left := max(0, f.deadline.Sub(m.opts.Now()))
			// The input and its verdict come first: the URL below can be
			// taller than the pane.
			if m.mode.kind == modePaste {
				add("Paste the URL the browser ended on (or the code); enter sends, esc closes:")
				lines = append(lines, ansi.Truncate(f.input.View(), width, "…"))
			}
			if f.pasteErr != "" {
				add(m.styles.errMsg.Render(clean(f.pasteErr)))
			}
			if err := f.flow.ListenError(); err != nil {
				why := fix.Message(err, fix.TUI)
				if pe := (*callback.PortInUseError)(nil); errors.As(err, &pe) && !pe.OtherMcplink {
					why = fmt.Sprintf("port %d is in use by another program (\"oauth.callbackPort\" moves it).", pe.Port)
				}
				add(m.styles.amber.Render("The callback listener could not start: " + clean(why)))
				add("Sign in, then press p and paste the URL the browser ends on (it will not load).")
			}
			if f.pasted {
				add("Redirect accepted; exchanging the code…")
			} else {
				add(fmt.Sprintf("Waiting for the browser — %s left", countdown(left)))
			}
			add(m.styles.accent.Render("c copy · p paste · esc cancel"))
			add("Open this URL:")
			lines = append(lines, strings.Split(ansi.Hardwrap(termtext.Line(f.flow.URL()), width, false), "\n")...)
		}
		lines = append(lines, m.styles.dim.Render(strings.Repeat("─", width)))
	}
	st, ok := m.current()
	if !ok {
		return lines
	}
	add(m.styles.title.Render(clean(st.Name)))
	typ := st.Type
	if st.Transport != "" {
		typ += " · " + st.Transport
	}
	field("Type", typ)
	if st.Type == config.TypeRemote {
		field("URL", clean(st.URL))
	} else {
		field("Command", clean(strings.Join(st.Command, " ")))
	}
	dot, _ := m.dot(st)
	field("Status", dot+" "+string(st.Status))
	if st.Error != "" {
		field("Error", clean(fix.State(st, fix.TUI)))
	}
	if a, ok := m.auth[st.Name]; ok {
		if a.err != nil {
			field("Auth", "unknown: "+clean(a.err.Error()))
		} else {
			field("Auth", m.authText(a.st))
			if len(a.st.Scopes) > 0 {
				field("Scopes", clean(strings.Join(a.st.Scopes, " ")))
			}
		}
	}
	if lo, ok := m.logouts[st.Name]; ok {
		text := clean(lo.text)
		if lo.failed {
			text = m.styles.errMsg.Render(text)
		}
		field("Logout", text)
	}
	switch {
	case st.Status != manager.StatusConnected:
		field("Tools", "—")
	case !m.showTools:
		field("Tools", fmt.Sprintf("%d (enter shows them)", len(st.Tools)))
	default:
		field("Tools", fmt.Sprintf("%d (enter hides them; pgup/pgdn scroll)", len(st.Tools)))
		for _, t := range st.Tools {
			if t == nil {
				continue
			}
			name := "  " + m.styles.accent.Render(termtext.Line(t.Name))
			if ts := st.TaskSupport[t.Name]; ts != "" { // optional or required (manager's constants)
				name += m.styles.dim.Render(" · tasks: " + string(ts))
			}
			add(name)
			if d := strings.TrimSpace(clean(t.Description)); d != "" {
				for _, l := range strings.Split(lipgloss.Wrap(d, max(4, width-4), " /-"), "\n") {
					lines = append(lines, "    "+l)
				}
			}
		}
	}
	return lines
}

func (m *Model) authText(a oauth.AuthStatus) string {
	s := string(a.State)
	switch a.State {
	case oauth.StateAuthenticated:
		s = "authenticated"
		if !a.Expiry.IsZero() {
			s += " · expires in " + humanDuration(a.Expiry.Sub(m.opts.Now()))
		}
	case oauth.StateExpired:
		s = "expired"
		if !a.Expiry.IsZero() {
			s += " " + humanDuration(m.opts.Now().Sub(a.Expiry)) + " ago"
		}
	case oauth.StateNotAuthenticated:
		s = "not signed in (press a)"
	}
	if a.Refreshable {
		s += " · refreshable"
	}
	return s
}

func countdown(d time.Duration) string {
	secs := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d", secs/60, secs%60)
}

func humanDuration(d time.Duration) string {
	d = max(0, d.Round(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		if mins := int(d % time.Hour / time.Minute); mins > 0 {
			return fmt.Sprintf("%dh %dm", int(d/time.Hour), mins)
		}
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
