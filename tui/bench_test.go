package tui

import (
	"fmt"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/manager"
)

// benchModel is a model showing n connected servers with 20 tools each. It
// only renders and updates, so it needs no backend.
func benchModel(n int) *Model {
	m := New(nil, Options{})
	var states []manager.State
	for i := range n {
		st := manager.State{Name: fmt.Sprintf("server-%03d", i), Type: config.TypeRemote, Status: manager.StatusConnected,
			URL: fmt.Sprintf("https://mcp%d.example.com/mcp", i), Transport: manager.TransportStreamable}
		for j := range 20 {
			st.Tools = append(st.Tools, &mcp.Tool{Name: fmt.Sprintf("tool_%d", j), Description: "does something useful with its arguments and returns a result"})
		}
		states = append(states, st)
	}
	m.Update(statesMsg{states})
	m.Update(teaSize(80, 24))
	m.selected = states[n/2].Name
	m.showTools = true
	return m
}

// BenchmarkRender measures one full frame at 80×24 with 100 servers.
func BenchmarkRender(b *testing.B) {
	m := benchModel(100)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		_ = m.Render()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/frame")
}

// BenchmarkEvent measures applying one manager event and rendering the frame.
func BenchmarkEvent(b *testing.B) {
	m := benchModel(100)
	ev := manager.Event{Server: "server-010", Kind: manager.EventStatus}
	ev.State, _ = m.lookup("server-010")
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		m.setState(ev.State)
		_ = m.Render()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/event")
}
