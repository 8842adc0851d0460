package clients

import (
	"regexp"
	"strings"
)

var (
	bracedRE = regexp.MustCompile(`\$\{([^{}]*)\}`)
	// bareRE is Gemini CLI's $VAR (its settings expand $VAR and ${VAR}).
	bareRE = regexp.MustCompile(`\$([A-Za-z_][A-Za-z0-9_]*)`)
	nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// expand resolves the variable references in s (see Vars); what names the
// value in errors. Values never appear in errors, only references.
func (r *reader) expand(server, what, s string) string {
	if r.literal || !strings.Contains(s, "$") {
		return s
	}
	v := r.vars
	out := bracedRE.ReplaceAllStringFunc(s, func(m string) string {
		ref := m[2 : len(m)-1]
		kind, arg, hasKind := strings.Cut(ref, ":")
		switch {
		case ref == "userHome":
			return v.Home
		case ref == "workspaceFolder":
			return v.WorkDir
		case ref == "pathSeparator", ref == "/":
			return "/"
		case hasKind && kind == "env":
			return r.env(server, what, arg, m)
		case hasKind && kind == "input":
			return r.input(server, what, arg, m)
		case hasKind && nameRE.MatchString(kind) && strings.HasPrefix(arg, "-"):
			// ${VAR:-default} (Claude Code)
			if val, ok := r.lookup(kind); ok && val != "" {
				if v.Translate {
					return "{env:" + kind + "}"
				}
				return val
			}
			return arg[1:]
		case !hasKind && nameRE.MatchString(ref):
			return r.env(server, what, ref, m)
		}
		return m // not a variable mcplink knows: kept as written
	})
	if ClientOf(r.path) == "Gemini CLI" {
		out = bareRE.ReplaceAllStringFunc(out, func(m string) string { return r.env(server, what, m[1:], m) })
	}
	return out
}

func (r *reader) lookup(name string) (string, bool) {
	if r.vars.Getenv == nil {
		return "", false
	}
	return r.vars.Getenv(name)
}

func (r *reader) env(server, what, name, ref string) string {
	if r.vars.Translate {
		return "{env:" + name + "}"
	}
	if val, ok := r.lookup(name); ok {
		return val
	}
	r.errorf(server, "%s uses %s but the environment variable %s is not set; set it", what, ref, name)
	return ref
}

func (r *reader) input(server, what, id, ref string) string {
	in, ok := r.inputs[id]
	if !ok {
		r.errorf(server, `%s uses %s but the file's "inputs" has no input with "id": %q`, what, ref, id)
		return ref
	}
	if r.vars.Translate {
		r.errorf(server, "%s uses %s, which VS Code asks the user for, so it cannot be copied; put the value in an environment variable and use ${env:NAME} there, or add the server by hand", what, ref)
		return ref
	}
	if r.vars.Input == nil {
		r.errorf(server, "%s uses %s, which VS Code asks the user for; run mcplink on a terminal to be asked, or put the value in an environment variable and use ${env:NAME}", what, ref)
		return ref
	}
	if val, ok := r.answers[id]; ok {
		return val
	}
	val, err := r.vars.Input(in)
	if err != nil {
		r.errorf(server, "%s: reading %s: %v", what, ref, err)
		return ref
	}
	if r.answers == nil {
		r.answers = map[string]string{}
	}
	r.answers[id] = val
	return val
}
