package clients

import (
	"bytes"
	"strings"

	"github.com/tailscale/hujson"

	"github.com/mcplink/mcplink/config"
)

// position converts a byte offset of data to a 1-based line and column.
func position(path string, data []byte, off int) config.Position {
	off = max(0, min(off, len(data)))
	line := bytes.Count(data[:off], []byte("\n")) + 1
	col := off - (bytes.LastIndexByte(data[:off], '\n') + 1) + 1
	return config.Position{File: path, Line: line, Col: col}
}

// jsonPositions returns where each server's key is in a JSON(C) file: the
// members of the object reached from the top level through the keys of
// each path (a key matched by match), later paths winning.
func jsonPositions(file string, data []byte, match func(want, key string) bool, paths ...[]string) map[string]config.Position {
	out := map[string]config.Position{}
	root, err := hujson.Parse(data)
	if err != nil {
		return out
	}
	for _, p := range paths {
		v := &root
		for _, k := range p {
			obj, ok := v.Value.(*hujson.Object)
			if !ok {
				v = nil
				break
			}
			var next *hujson.Value
			for i := range obj.Members {
				m := &obj.Members[i]
				if lit, ok := m.Name.Value.(hujson.Literal); ok && match(k, lit.String()) {
					next = &m.Value
				}
			}
			if v = next; v == nil {
				break
			}
		}
		if v == nil {
			continue
		}
		if obj, ok := v.Value.(*hujson.Object); ok {
			for i := range obj.Members {
				m := &obj.Members[i]
				if lit, ok := m.Name.Value.(hujson.Literal); ok {
					out[lit.String()] = position(file, data, m.Name.StartOffset)
				}
			}
		}
	}
	return out
}

// tomlPositions returns where each [mcp_servers.NAME] header is.
func tomlPositions(file string, data []byte) map[string]config.Position {
	out := map[string]config.Position{}
	off := 0
	for line := range bytes.SplitAfterSeq(data, []byte("\n")) {
		trim := strings.TrimSpace(string(line))
		if strings.HasPrefix(trim, "[") && !strings.HasPrefix(trim, "[[") {
			h := strings.Join(strings.Fields(strings.Trim(strings.SplitN(trim, "#", 2)[0], " \t[]")), "")
			if name, ok := strings.CutPrefix(h, "mcp_servers."); ok {
				name = strings.Trim(name, `"'`)
				if _, seen := out[name]; !seen && !strings.Contains(name, ".") {
					out[name] = position(file, data, off+strings.Index(string(line), "["))
				}
			}
		}
		off += len(line)
	}
	return out
}
