package clients

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/envfile"
	"github.com/mcplink/mcplink/internal/safefile"
)

// withEnvFile adds the variables of a stdio server's "envFile" to e's
// environment, under its explicit "env" (which wins, as in VS Code); false
// after reporting a problem. For import (Vars.Translate) the file is not
// read: e gets the reference, config.Entry.EnvFile (absolute, like "cwd"),
// which the manager reads each time the server starts — the file's
// values, secrets as a rule, never reach mcplink's config.
func (r *reader) withEnvFile(e *config.Entry, server, path, base string) bool {
	p := r.envFilePath(server, path, base)
	if r.vars.Translate {
		e.EnvFile = p
		return true
	}
	vars, ok := r.envFile(server, p)
	if !ok {
		return false
	}
	for k, v := range vars {
		if _, set := e.Environment[k]; set {
			continue
		}
		if e.Environment == nil {
			e.Environment = map[string]string{}
		}
		e.Environment[k] = v
	}
	return true
}

// envFilePath is a stdio server's "envFile" expanded like the other
// values and, when relative, taken from base (where a relative "cwd" is
// taken from). A path that starts with a reference import keeps ({env:X})
// is left as it is, as "cwd" is.
func (r *reader) envFilePath(server, path, base string) string {
	p := r.expand(server, "envFile", path)
	if strings.HasPrefix(p, "~/") && r.vars.Home != "" {
		p = filepath.Join(r.vars.Home, p[2:])
	}
	if !filepath.IsAbs(p) && !strings.HasPrefix(p, "{") {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p)
}

// envFile returns the variables of the envFile at p (VS Code's and
// Cursor's file of KEY=VALUE lines; see envfile.Parse). ok is false after
// reporting a problem.
func (r *reader) envFile(server, p string) (vars map[string]string, ok bool) {
	vars, err := envfile.Read(p)
	if err != nil {
		var nr *safefile.NotRegularError
		var tl *safefile.TooLargeError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.errorf(server, `"envFile" %s does not exist; create it or remove "envFile"`, p)
		case errors.As(err, &nr), errors.As(err, &tl):
			r.errorf(server, `"envFile": %v`, err)
		case errors.As(err, new(*envfile.NULError)):
			r.errorf(server, `"envFile" %s: %v`, p, err)
		default:
			r.errorf(server, `"envFile": cannot read %s: %v`, p, err)
		}
		return nil, false
	}
	return vars, true
}
