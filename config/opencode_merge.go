package config

import (
	"maps"
	"reflect"
	"slices"
	"strings"
)

// mergeOpencode merges over, a full definition in one of opencode's files,
// onto base, the definition of the same server in an earlier opencode file,
// as opencode's loader does (remeda's mergeDeep of the two config objects):
// every field over sets replaces base's, except that "environment" and
// "headers" merge key by key and an "oauth" object merges field by field
// onto an earlier "oauth" object; arrays ("command") are replaced. Entries
// of different types are not merged: over wins whole.
func mergeOpencode(base, over *fileEntry) *fileEntry {
	b, o := base.entry, over.entry
	if b.Type != o.Type || b.Untrusted != nil || o.Untrusted != nil {
		return over
	}
	m := *b
	m.Source, m.Pos = o.Source, o.Pos
	for k := range over.keys {
		switch k {
		case "enabled":
			m.Enabled = o.Enabled
		case "timeout":
			m.Timeout = o.Timeout
		case "maxMessageSize":
			m.MaxMessageSize = o.MaxMessageSize
		case "command":
			m.Command = o.Command
		case "cwd":
			m.Cwd = o.Cwd
		case "envFile":
			m.EnvFile = o.EnvFile
		case "url":
			m.URL = o.URL
		case "environment":
			m.Environment = mergeMaps(b.Environment, o.Environment)
		case "headers":
			m.Headers = mergeMaps(b.Headers, o.Headers)
		case "oauth":
			switch {
			case o.OAuthDisabled || b.OAuthDisabled || b.OAuth == nil:
				m.OAuth, m.OAuthDisabled = o.OAuth, o.OAuthDisabled
			default:
				oa := *b.OAuth
				mergeOAuth(&oa, o.OAuth, over.oauthKeys)
				m.OAuth = &oa
			}
		}
	}
	errs := slices.Clone(base.substErrs)
	for _, e := range over.substErrs {
		if !slices.ContainsFunc(errs, func(x *Error) bool { return x.Error() == e.Error() }) {
			errs = append(errs, e)
		}
	}
	return &fileEntry{entry: &m, substErrs: errs, keys: mergedKeys(base.keys, over.keys),
		oauthKeys: mergedKeys(base.oauthKeys, over.oauthKeys), lenient: true}
}

func mergeMaps(a, b map[string]string) map[string]string {
	if a == nil && b == nil {
		return nil
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

func mergedKeys(a, b map[string]bool) map[string]bool {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]bool{}
	}
	maps.Copy(out, b)
	return out
}

// mergeOAuth copies onto dst the fields of src named in keys (JSON names).
func mergeOAuth(dst, src *OAuth, keys map[string]bool) {
	if src == nil {
		return
	}
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	t := dv.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && keys[name] {
			dv.Field(i).Set(sv.Field(i))
		}
	}
	if keys["resource"] {
		dst.OmitResource = src.OmitResource // "resource": false has no json tag of its own
	}
}
