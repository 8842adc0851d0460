package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// headSeeds are lines like those the proxy forwards, and variants of them
// that encoding/json decodes in ways the fast path leaves to it.
var headSeeds = []string{
	benchRequestLine,
	benchResultLine,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`,
	`{"jsonrpc":"2.0","id":"a-b","method":"tools/call","params":{}}`,
	`{"jsonrpc":"2.0","id":"\u00e9\n","method":"x"}`,
	`{"jsonrpc":"2.0","id":"é","method":"x"}`,
	`{"jsonrpc":"2.0","id":-7,"method":"x"}`,
	`{"jsonrpc":"2.0","id":0,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1e3,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1.5,"method":"x"}`,
	`{"jsonrpc":"2.0","id":-0.0e+0,"method":"x"}`,
	`{"jsonrpc":"2.0","id":12345678901234567890,"method":"x"}`,
	`{"jsonrpc":"2.0","id":123456789012345678901234567890e400,"method":"x"}`,
	`{"jsonrpc":"2.0","id":null,"method":"notifications/progress","params":{"progress":1,"total":null}}`,
	`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":[1,{"a":[]},{}]}}`,
	`{"jsonrpc":"2.0","id":true,"method":"x"}`,
	`{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`,
	`{"jsonrpc":"2.0","id":[1],"method":"x"}`,
	`{"jsonrpc":"1.0","id":1,"method":"x"}`,
	`{"id":1,"method":"x"}`,
	`{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`,
	`{"jsonrpc":"2.0","id":3,"result":null}`,
	`{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}`,
	`{"jsonrpc":"2.0","id":3,"error":null,"result":{}}`,
	`{"jsonrpc":"2.0","id":3,"error":"bad"}`,
	`{"jsonrpc":"2.0","id":3}`,
	`{"jsonrpc":"2.0","result":{}}`,
	`{"jsonrpc":"2.0"}`,
	`{}`,
	` { } `,
	"\t{\"jsonrpc\" : \"2.0\" ,\r\n \"id\" :\t4 , \"result\" : { } }\n ",
	`{"jsonrpc":"2.0","id":1,"method":"x"`,
	`{"jsonrpc":"2.0","id":1,"method":"x"}}`,
	`{"jsonrpc":"2.0","id":1,"method":"x"} x`,
	`{"jsonrpc":"2.0","id":1,"method":"x",}`,
	`{"jsonrpc":"2.0","id":01,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1.,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1e,"method":"x"}`,
	`{"jsonrpc":"2.0","id":-,"method":"x"}`,
	`{"jsonrpc":"2.0","id":+1,"method":"x"}`,
	`{"jsonrpc":"2.0","id":tru,"method":"x"}`,
	`{"jsonrpc":"2.0","id":nulll,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1,"method":"x","params":[1,]}`,
	`{"jsonrpc":"2.0","id":1,"method":"x","params":{"a" 1}}`,
	`{"jsonrpc":"2.0","id":1,"method":"x","params":"\x"}`,
	`{"jsonrpc":"2.0","id":1,"method":"x","params":"\u12"}`,
	`{"jsonrpc":"2.0","id":1,"method":"x","params":"\uD800\ud83d\ude00"}`,
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":\"a\tb\"}",
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":\"\xff\xfe\"}",
	`{"jsonrpc":"2.0","id":1,"method":"x","method":"y"}`,
	`{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1,"result":1,"result":2}`,
	`{"jsonrpc":"2.0","JSONRPC":"1.0","id":1,"method":"x"}`,
	`{"Jsonrpc":"2.0","ID":1,"Method":"x"}`,
	`{"jsonrpc":"2.0","id":1,"METHOD":"x","Result":{}}`,
	`{"jsonrpc":"2.0","id":1,"ſ":1,"method":"x"}`,
	`{"json\u0072pc":"2.0","id":1,"method":"x"}`,
	`{"jſonrpc":"2.0","id":1,"method":"x"}`,
	`{"jsonrpc":2.0,"id":1,"method":"x"}`,
	`{"jsonrpc":null,"id":1,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1,"method":null}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools\/call"}`,
	`{"jsonrpc":"2.0","id":1,"method":"outils/é"}`,
	`{"jsonrpc":"2.0","id":1,"method":7}`,
	`{"jsonrpc":"2.0","id":1,"method":""}`,
	`{"jsonrpc":"2.0","id":1,"method":"x","":0,"x-extra":[1, 2]}`,
	`[1]`,
	`"str"`,
	`null`,
	`7`,
	``,
	`{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	`{"a":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
	`{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"a":` + strings.Repeat(`{"b":`, 40) + `1` + strings.Repeat("}", 40) + `}`,
}

// decodeHeadReflect is decodeHead as it was before scanHead: the head
// always through encoding/json.
func decodeHeadReflect(data []byte, full func(method string) bool) (jsonrpc.Message, bool, error) {
	if bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0 {
		msg, err := decodeMessage(data)
		return msg, false, err
	}
	var h headMessage
	if json.Unmarshal(data, &h) != nil || h.Error != nil || (h.Method == "" && !bool(h.Result)) || (h.Method != "" && full != nil && full(h.Method)) {
		msg, err := decodeMessage(data)
		return msg, false, err
	}
	if h.JSONRPC != "2.0" {
		return nil, false, fmt.Errorf("jsonrpc is %q, want \"2.0\"", h.JSONRPC)
	}
	id, err := parseID(json.RawMessage(h.ID))
	if err != nil {
		return nil, false, err
	}
	if h.Method != "" {
		return &jsonrpc.Request{ID: id, Method: h.Method}, true, nil
	}
	if !id.IsValid() {
		return nil, false, errors.New("a message with neither a method nor an id")
	}
	return &jsonrpc.Response{ID: id}, true, nil
}

// checkScanHead fails t unless scanHead, where it handles data, fills a
// headMessage exactly as json.Unmarshal does (with no error), and decodeHead
// returns what it returned before scanHead. It reports whether scanHead
// handled data.
func checkScanHead(t *testing.T, data []byte) bool {
	t.Helper()
	var fast headMessage
	handled := scanHead(data, &fast)
	if handled {
		var slow headMessage
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("%q: scanHead handled it as %#v, json.Unmarshal refused it: %v", data, fast, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: scanHead = %#v, json.Unmarshal = %#v", data, fast, slow)
		}
	}
	full := func(m string) bool { return m == "initialize" }
	msg, light, err := decodeHead(data, full)
	wmsg, wlight, werr := decodeHeadReflect(data, full)
	if light != wlight || !reflect.DeepEqual(msg, wmsg) || fmt.Sprint(err) != fmt.Sprint(werr) {
		t.Fatalf("%q: decodeHead = %#v, %v, %v; before scanHead %#v, %v, %v", data, msg, light, err, wmsg, wlight, werr)
	}
	return handled
}

// FuzzScanHead: wherever the fast path handles a line, it decodes what
// json.Unmarshal decodes, and decodeHead returns what it did before.
func FuzzScanHead(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanHead(t, data)
	})
}

// The seeds agree; the usual lines take the fast path, and what it leaves to
// encoding/json (each case named) does not.
func TestScanHead(t *testing.T) {
	for _, s := range headSeeds {
		checkScanHead(t, []byte(s))
	}
	handled := []string{
		benchRequestLine,
		benchResultLine,
		`{"jsonrpc":"2.0","id":"a-b","method":"tools/call","params":{}}`,
		`{"jsonrpc":"2.0","id":"é","method":"x"}`,
		`{"jsonrpc":"2.0","id":12345678901234567890,"method":"x"}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"x"}`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`,
		`{"jsonrpc":"2.0","id":null,"method":"notifications/progress","params":{"progress":1,"total":null}}`,
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":[1,{"a":[]},{}]}}`,
		`{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}`,
		`{"jsonrpc":"2.0","id":3,"result":null}`,
		`{"jsonrpc":"1.0","id":1,"method":"x"}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","":0,"x-extra":[1, 2]}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":"\uD800\ud83d\ude00 \" \\ \/ \b\f\n\r\t"}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":\"\xff\xfe\"}",
		"\t{\"jsonrpc\" : \"2.0\" ,\r\n \"id\" :\t4 , \"result\" : { } }\n ",
		` { } `,
		`{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	}
	for _, s := range handled {
		if !checkScanHead(t, []byte(s)) {
			t.Errorf("scanHead gave up on %.80q", s)
		}
	}
	givesUp := map[string]string{
		"depth past encoding/json's limit": `{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		"duplicate method":                 `{"jsonrpc":"2.0","id":1,"method":"x","method":"y"}`,
		"duplicate id":                     `{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}`,
		"duplicate result":                 `{"jsonrpc":"2.0","id":1,"result":1,"result":2}`,
		"duplicate error":                  `{"jsonrpc":"2.0","id":1,"error":1,"error":null}`,
		"case variant of jsonrpc":          `{"jsonrpc":"2.0","JSONRPC":"1.0","id":1,"method":"x"}`,
		"case variant of id":               `{"jsonrpc":"2.0","ID":1,"method":"x"}`,
		"case variant of method":           `{"jsonrpc":"2.0","id":1,"Method":"x"}`,
		"case variant of result":           `{"jsonrpc":"2.0","id":1,"resulT":{}}`,
		"case variant of error":            `{"jsonrpc":"2.0","id":1,"ERROR":{},"result":{}}`,
		"non-ASCII key":                    `{"jsonrpc":"2.0","id":1,"ſ":1,"method":"x"}`,
		"non-ASCII key folding to jsonrpc": `{"jſonrpc":"2.0","id":1,"method":"x"}`,
		"escaped key":                      `{"json\u0072pc":"2.0","id":1,"method":"x"}`,
		"escaped unknown key":              `{"jsonrpc":"2.0","id":1,"method":"x","\n":1}`,
		"jsonrpc a number":                 `{"jsonrpc":2.0,"id":1,"method":"x"}`,
		"jsonrpc null":                     `{"jsonrpc":null,"id":1,"method":"x"}`,
		"jsonrpc escaped":                  `{"jsonrpc":"2\u002e0","id":1,"method":"x"}`,
		"method null":                      `{"jsonrpc":"2.0","id":1,"method":null}`,
		"method a number":                  `{"jsonrpc":"2.0","id":1,"method":7}`,
		"method escaped":                   `{"jsonrpc":"2.0","id":1,"method":"tools\/call"}`,
		"method non-ASCII":                 `{"jsonrpc":"2.0","id":1,"method":"outils/é"}`,
		"array":                            `[{"jsonrpc":"2.0","id":1,"method":"x"}]`,
		"null":                             `null`,
		"empty":                            ``,
		"unterminated":                     `{"jsonrpc":"2.0","id":1,"method":"x"`,
		"trailing data":                    `{"jsonrpc":"2.0","id":1,"method":"x"} x`,
		"trailing comma":                   `{"jsonrpc":"2.0","id":1,"method":"x",}`,
		"leading zero":                     `{"jsonrpc":"2.0","id":01,"method":"x"}`,
		"bare fraction point":              `{"jsonrpc":"2.0","id":1.,"method":"x"}`,
		"bare exponent":                    `{"jsonrpc":"2.0","id":1e,"method":"x"}`,
		"plus sign":                        `{"jsonrpc":"2.0","id":+1,"method":"x"}`,
		"bad literal":                      `{"jsonrpc":"2.0","id":nulll,"method":"x"}`,
		"bad escape":                       `{"jsonrpc":"2.0","id":1,"method":"x","params":"\x"}`,
		"short unicode escape":             `{"jsonrpc":"2.0","id":1,"method":"x","params":"\u12"}`,
		"raw control character":            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":\"a\tb\"}",
		"missing colon":                    `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a" 1}}`,
		"trailing comma in array":          `{"jsonrpc":"2.0","id":1,"method":"x","params":[1,]}`,
	}
	for name, s := range givesUp {
		if checkScanHead(t, []byte(s)) {
			t.Errorf("%s: scanHead handled %.80q", name, s)
		}
	}
}
