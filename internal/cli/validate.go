package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/mcplink/mcplink/internal/termtext"
)

// validateArgs checks a call's arguments against the tool's input schema
// before anything is sent, so that a mistake is named here (argument, what
// the schema wants, how to fix it) instead of coming back as whatever the
// server makes of it. It is a usage error (exit 2): the arguments are the
// user's input.
//
// The common mistakes get their own wording: a missing required argument,
// an unknown one (when the schema forbids extra properties), a value of the
// wrong type or outside its enum. Anything else the schema says is checked
// with github.com/google/jsonschema-go, whose message is passed on. A schema
// that does not resolve (a remote $ref, a dialect it does not know) is not
// the user's fault: the call then goes out unchecked.
func validateArgs(schema map[string]any, server, tool string, args map[string]any) error {
	if schema == nil {
		return nil
	}
	props, _ := schema["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	argList := strings.Join(names, ", ")
	if argList == "" {
		argList = "none"
	}
	fix := fmt.Sprintf("see 'mcplink tools %s'", server)

	if req, ok := schema["required"].([]any); ok {
		var missing []string
		for _, r := range req {
			if s, ok := r.(string); ok {
				if _, ok := args[s]; !ok {
					missing = append(missing, s)
				}
			}
		}
		if len(missing) > 0 {
			return usageError("%s: missing required argument %s: pass %s=VALUE (%s)", tool, strings.Join(quoteAll(missing), ", "), missing[0], fix)
		}
	}
	if ap, ok := schema["additionalProperties"].(bool); ok && !ap {
		var unknown []string
		for k := range args {
			if _, ok := props[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return usageError("%s: unknown argument %s (its arguments: %s)", tool, strings.Join(quoteAll(unknown), ", "), argList)
		}
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, _ := props[k].(map[string]any)
		if p == nil {
			continue
		}
		v := args[k]
		if t, ok := p["type"].(string); ok && !jsonTypeIs(v, t) {
			return usageError("%s: argument %q must be %s, got %s (%s)", tool, k, article(t), describeValue(v), fix)
		}
		if enum, ok := p["enum"].([]any); ok && len(enum) > 0 && !inEnum(v, enum) {
			return usageError("%s: argument %q must be one of %s, got %s", tool, k, enumList(enum), describeValue(v))
		}
		if x, ok := v.(float64); ok {
			if lo, ok := p["minimum"].(float64); ok && x < lo {
				return usageError("%s: argument %q must be at least %s, got %s", tool, k, num(lo), num(x))
			}
			if hi, ok := p["maximum"].(float64); ok && x > hi {
				return usageError("%s: argument %q must be at most %s, got %s", tool, k, num(hi), num(x))
			}
		}
	}

	b, err := json.Marshal(schema)
	if err != nil {
		return nil
	}
	var s jsonschema.Schema
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		return nil // not the user's fault; the server will judge
	}
	if err := rs.Validate(args); err != nil {
		msg := strings.TrimPrefix(err.Error(), "validating root: ")
		if name := schemaArgName(msg); name != "" {
			return usageError("%s: argument %q does not match the tool's schema: %s (%s)", tool, name, termtext.Line(msg), fix)
		}
		return usageError("%s: arguments do not match the tool's schema: %s (%s)", tool, termtext.Line(msg), fix)
	}
	return nil
}

// schemaArgName finds the top-level property a jsonschema-go message is about
// ("validating /properties/NAME: ...").
func schemaArgName(msg string) string {
	const p = "/properties/"
	i := strings.Index(msg, p)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(p):]
	if j := strings.IndexAny(rest, "/: "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// jsonTypeIs reports whether v (decoded JSON) is of JSON Schema type t.
func jsonTypeIs(v any, t string) bool {
	switch t {
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f) && !math.IsInf(f, 0)
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "null":
		return v == nil
	}
	return true // a type we don't know: let the full validation judge
}

func article(t string) string {
	switch t {
	case "integer", "object", "array":
		return "an " + t
	case "null":
		return "null"
	}
	return "a " + t
}

// describeValue names a value's JSON type and shows it, shortened.
func describeValue(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	t := "a string"
	switch x := v.(type) {
	case float64:
		t = "a number"
		if x == math.Trunc(x) {
			t = "an integer"
		}
	case bool:
		t = "a boolean"
	case map[string]any:
		t = "an object"
	case []any:
		t = "an array"
	case nil:
		t = "null"
	}
	return t + " " + termtext.Line(s)
}

func inEnum(v any, enum []any) bool {
	b, _ := json.Marshal(v)
	for _, e := range enum {
		if eb, _ := json.Marshal(e); string(eb) == string(b) {
			return true
		}
	}
	return false
}

func enumList(enum []any) string {
	parts := make([]string, 0, len(enum))
	for _, e := range enum {
		b, _ := json.Marshal(e)
		parts = append(parts, string(b))
	}
	return termtext.Line(strings.Join(parts, ", "))
}

// enumSuffix is " [a|b|c]" for a property schema with an enum, for tools'
// one-line argument summary (at most 12 values shown).
func enumSuffix(prop any) string {
	p, _ := prop.(map[string]any)
	enum, _ := p["enum"].([]any)
	if len(enum) == 0 {
		return ""
	}
	parts := make([]string, 0, len(enum))
	for i, e := range enum {
		if i == 12 {
			parts = append(parts, fmt.Sprintf("… %d more", len(enum)-i))
			break
		}
		if s, ok := e.(string); ok {
			parts = append(parts, s)
			continue
		}
		b, _ := json.Marshal(e)
		parts = append(parts, string(b))
	}
	return " [" + strings.Join(parts, "|") + "]"
}
