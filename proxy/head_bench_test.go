package proxy

import (
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Typical lines of a forwarded tools/call: the client's request and the
// server's result.
const (
	benchRequestLine = `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello world","count":3,"flags":[true,false,null]}}}`
	benchResultLine  = `{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"hello world \u00e9 \"quoted\" and a somewhat longer answer of a tool, as servers send"}],"structuredContent":{"n":1.5e3,"ok":true},"isError":false}}`
)

// BenchmarkDecodeHead is decodeHead on a typical tools/call request line and
// a typical result line (two calls per forwarded call), and the same through
// decodeHeadReflect (decodeHead before scanHead) for comparison.
func BenchmarkDecodeHead(b *testing.B) {
	for _, bc := range []struct {
		name, line string
		decode     func([]byte, func(string) bool) (jsonrpc.Message, bool, error)
	}{
		{"request", benchRequestLine, decodeHead},
		{"result", benchResultLine, decodeHead},
		{"reflect-request", benchRequestLine, decodeHeadReflect},
		{"reflect-result", benchResultLine, decodeHeadReflect},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data := []byte(bc.line)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, light, err := bc.decode(data, nil); err != nil || !light {
					b.Fatalf("decodeHead: light %v, %v", light, err)
				}
			}
		})
	}
}
