package config

import (
	"path/filepath"
	"strconv"

	"github.com/tailscale/hujson"
)

// Grants: how mcplink obtains tokens for a remote server ("oauth.grant").
const (
	// GrantAuthorizationCode is the default: a user signs in in a browser
	// (authorization code with PKCE).
	GrantAuthorizationCode = "authorization_code"
	// GrantClientCredentials obtains tokens as the client itself, without a
	// user: "clientId" plus "clientSecret" (client_secret_basic) or
	// "privateKeyFile" (private_key_jwt).
	GrantClientCredentials = "client_credentials"
	// GrantJWTBearer exchanges a JWT assertion for a token (RFC 7523): a
	// workload identity token from "assertionFile" or "assertionCommand", or
	// an ID-JAG obtained from the enterprise identity provider "idp".
	GrantJWTBearer = "jwt_bearer"
)

// IdP is the enterprise identity provider of enterprise-managed
// authorization ("oauth.idp"): the user's ID token is exchanged there (RFC
// 8693) for an identity assertion authorization grant (ID-JAG), which the
// authorization server then accepts in a JWT-bearer grant.
type IdP struct {
	// Issuer is the IdP's issuer; its token endpoint is discovered from it
	// when TokenEndpoint is empty.
	Issuer string `json:"issuer,omitempty"`
	// TokenEndpoint is the IdP's token endpoint.
	TokenEndpoint string `json:"tokenEndpoint,omitempty"`
	// ClientID and ClientSecret identify mcplink at the IdP.
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	// IDTokenFile is a file holding the user's ID token (re-read on every
	// exchange); IDTokenCommand prints it on stdout. Exactly one is set.
	IDTokenFile    string   `json:"idTokenFile,omitempty"`
	IDTokenCommand []string `json:"idTokenCommand,omitempty"`
}

// EffectiveGrant returns the grant in force: Grant, else GrantJWTBearer
// when an assertion source or an IdP is configured, else
// GrantAuthorizationCode.
func (o OAuth) EffectiveGrant() string {
	switch {
	case o.Grant != "":
		return o.Grant
	case o.AssertionFile != "" || len(o.AssertionCommand) > 0 || o.IdP != nil:
		return GrantJWTBearer
	}
	return GrantAuthorizationCode
}

var idpFields = []string{"issuer", "tokenEndpoint", "clientId", "clientSecret", "idTokenFile", "idTokenCommand"}

// grantField decodes one of the machine/enterprise fields of "oauth". It
// reports whether name is one of them.
func (d *decoder) grantField(fe *fileEntry, o *OAuth, name string, fv *hujson.Value) bool {
	q := strconv.Quote(name)
	switch name {
	case "grant":
		if s, ok := d.str(fe, q, fv); ok {
			switch s {
			case GrantAuthorizationCode, GrantClientCredentials, GrantJWTBearer:
				o.Grant = s
			default:
				d.errorf(fv.StartOffset, `"grant" must be "authorization_code", "client_credentials" or "jwt_bearer", got %s`, shown(fv, s))
			}
		}
	case "privateKeyFile":
		o.PrivateKeyFile = d.path(fe, q, fv)
	case "privateKeyId":
		o.PrivateKeyID, _ = d.str(fe, q, fv)
	case "assertionFile":
		o.AssertionFile = d.path(fe, q, fv)
	case "assertionCommand":
		o.AssertionCommand = d.argv(fe, q, fv)
	case "dpop":
		if b, ok := d.boolean(name, fv); ok {
			o.DPoP = &b
		}
	case "idp":
		o.IdP = d.idp(fe, fv)
	default:
		return false
	}
	return true
}

// path reads a file path: ~/ expanded, relative to the config file's directory.
func (d *decoder) path(fe *fileEntry, what string, v *hujson.Value) string {
	s, ok := d.str(fe, what, v)
	if !ok || s == "" {
		return ""
	}
	p, ok := d.expandHome(s)
	if !ok {
		d.errorf(v.StartOffset, `%s %q starts with ~ but the home directory is unknown; use an absolute path`, what, s)
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(d.src.path), p)
	}
	return filepath.Clean(p)
}

// argv reads a non-empty array of strings (a program and its arguments).
func (d *decoder) argv(fe *fileEntry, what string, v *hujson.Value) []string {
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		d.errorf(v.StartOffset, `%s must be an array of strings (the program and its arguments), got %s`, what, kindName(v))
		return nil
	}
	if len(arr.Elements) == 0 {
		d.errorf(v.StartOffset, `%s must not be empty; give the program and its arguments`, what)
		return nil
	}
	out := make([]string, 0, len(arr.Elements))
	for i := range arr.Elements {
		s, ok := d.str(fe, "elements of "+what, &arr.Elements[i])
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) idp(fe *fileEntry, v *hujson.Value) *IdP {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		d.errorf(v.StartOffset, `"idp" must be an object such as {"tokenEndpoint": "...", "clientId": "...", "idTokenCommand": [...]}, got %s`, kindName(v))
		return nil
	}
	p := &IdP{}
	seen := map[string]bool{}
	for i := range obj.Members {
		f := &obj.Members[i]
		name := memberName(f)
		if seen[name] {
			d.errorf(f.Name.StartOffset, "duplicate field %q", name)
			continue
		}
		seen[name] = true
		fv := &f.Value
		q := `"idp.` + name + `"`
		switch name {
		case "issuer", "tokenEndpoint":
			if s, ok := d.str(fe, q, fv); ok {
				if !isHTTPURL(s, false) {
					d.errorf(fv.StartOffset, `%s must be an absolute http or https URL, got %s`, q, shown(fv, s))
				} else if name == "issuer" {
					p.Issuer = s
				} else {
					p.TokenEndpoint = s
				}
			}
		case "clientId":
			p.ClientID, _ = d.str(fe, q, fv)
		case "clientSecret":
			p.ClientSecret, _ = d.str(fe, q, fv)
		case "idTokenFile":
			p.IDTokenFile = d.path(fe, q, fv)
		case "idTokenCommand":
			p.IDTokenCommand = d.argv(fe, q, fv)
		default:
			d.errorf(f.Name.StartOffset, "unknown field %q in \"idp\"%s", name, didYouMean(name, idpFields))
		}
	}
	switch {
	case p.TokenEndpoint == "" && p.Issuer == "":
		d.errorf(v.StartOffset, `"idp" needs "tokenEndpoint" (or "issuer", to discover it)`)
	case p.ClientID == "":
		d.errorf(v.StartOffset, `"idp" needs "clientId", the client registered for mcplink at the identity provider`)
	case (p.IDTokenFile == "") == (len(p.IDTokenCommand) == 0):
		d.errorf(v.StartOffset, `"idp" needs exactly one of "idTokenFile" and "idTokenCommand" (where the user's ID token comes from)`)
	}
	return p
}

// checkGrant validates the combination of grant fields; off is the "oauth"
// object's offset.
func (d *decoder) checkGrant(o *OAuth, off int) {
	sources := 0
	for _, set := range []bool{o.AssertionFile != "", len(o.AssertionCommand) > 0, o.IdP != nil} {
		if set {
			sources++
		}
	}
	if o.ClientSecret != "" && o.PrivateKeyFile != "" {
		d.errorf(off, `"oauth" has both "clientSecret" and "privateKeyFile"; keep one (the private key authenticates with private_key_jwt)`)
	}
	if o.PrivateKeyID != "" && o.PrivateKeyFile == "" {
		d.errorf(off, `"privateKeyId" needs "privateKeyFile"`)
	}
	switch o.EffectiveGrant() {
	case GrantClientCredentials:
		if o.ClientID == "" || (o.ClientSecret == "" && o.PrivateKeyFile == "") {
			d.errorf(off, `"grant": "client_credentials" needs "clientId" and either "clientSecret" or "privateKeyFile"`)
		}
		if sources > 0 {
			d.errorf(off, `"grant": "client_credentials" takes no "assertionFile", "assertionCommand" or "idp"; use "grant": "jwt_bearer" for assertions`)
		}
	case GrantJWTBearer:
		if sources != 1 {
			d.errorf(off, `"grant": "jwt_bearer" needs exactly one of "assertionFile", "assertionCommand" and "idp" (where the assertion comes from)`)
		}
		if o.IdP != nil && o.ClientID == "" {
			d.errorf(off, `enterprise-managed authorization ("idp") needs "clientId" (and "clientSecret" or "privateKeyFile"): the client registered at the MCP server's authorization server`)
		}
	default:
		if sources > 0 {
			d.errorf(off, `"assertionFile", "assertionCommand" and "idp" need "grant": "jwt_bearer"`)
		}
		if o.PrivateKeyFile != "" {
			d.errorf(off, `"privateKeyFile" applies to "grant": "client_credentials" or "jwt_bearer"`)
		}
	}
}
