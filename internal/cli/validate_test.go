package cli

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestValidateArgs checks call's argument validation against schemas as
// servers send them (decoded JSON), through the same function call uses.
func TestValidateArgs(t *testing.T) {
	schema := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	args := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	obj := schema(`{"type": "object", "properties": {
	  "level": {"type": "integer", "enum": [1, 2, 3]},
	  "opts": {"type": "object", "properties": {"depth": {"type": "number"}}},
	  "tags": {"type": "array", "items": {"type": "string"}},
	  "name": {"type": "string", "minLength": 2},
	  "maybe": {"type": ["string", "null"]}
	}, "required": ["level"]}`)
	for _, tc := range []struct {
		name   string
		schema map[string]any
		args   string
		want   string // "" = valid
	}{
		{"valid", obj, `{"level": 2, "opts": {"depth": 1.5}, "tags": ["a"], "maybe": null}`, ""},
		{"missing", obj, `{}`, `missing required argument "level": pass level=VALUE`},
		{"numeric enum", obj, `{"level": 4}`, `argument "level" must be one of 1, 2, 3, got an integer 4`},
		{"array type", obj, `{"level": 1, "tags": "a"}`, `argument "tags" must be an array, got a string "a"`},
		// Deeper rules: jsonschema-go, with the argument named.
		{"nested", obj, `{"level": 1, "opts": {"depth": "deep"}}`, `argument "opts" does not match the tool's schema`},
		{"items", obj, `{"level": 1, "tags": [1]}`, `argument "tags" does not match the tool's schema`},
		{"minLength", obj, `{"level": 1, "name": "x"}`, `argument "name" does not match the tool's schema`},
		{"type list", obj, `{"level": 1, "maybe": 3}`, `argument "maybe" does not match`},
		// A schema that does not resolve is the server's problem: no error.
		{"unresolvable", schema(`{"type": "object", "properties": {"x": {"$ref": "https://example.invalid/s.json"}}}`), `{"x": 1}`, ""},
		{"no schema", nil, `{"anything": 1}`, ""},
		{"closed", schema(`{"type": "object", "properties": {"a": {}}, "additionalProperties": false}`), `{"a": 1, "b": 2}`, `unknown argument "b" (its arguments: a)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateArgs(tc.schema, "srv", "tool", args(tc.args))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != ExitConfig {
				t.Fatalf("error %v is not a usage error (exit 2)", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
		})
	}
}
