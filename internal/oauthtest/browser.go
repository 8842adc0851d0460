package oauthtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ErrConsentPage is returned by FollowRedirects when the flow stops at the
// consent page (Options.ConsentPage); use Consent instead.
var ErrConsentPage = errors.New("authorization stopped at the consent page")

// FollowRedirects plays a browser that never asks the user: it GETs authURL
// and follows redirects (up to 10), including the final one to the client's
// loopback callback server. It fails if the final response is not 2xx or is
// the consent page.
func FollowRedirects(ctx context.Context, authURL string) error {
	resp, body, err := get(ctx, newBrowserClient(), authURL)
	if err != nil {
		return err
	}
	if isConsentPage(body) {
		return fmt.Errorf("oauthtest: %s: %w", redact(resp.Request.URL), ErrConsentPage)
	}
	return nil
}

// Consent plays a browser and a user on a server with Options.ConsentPage: it
// loads the consent page at authURL, presses Approve (approve true) or Deny,
// and follows the redirect to the client's callback. It fails if the final
// response is not 2xx.
func Consent(ctx context.Context, authURL string, approve bool) error {
	hc := newBrowserClient()
	resp, body, err := get(ctx, hc, authURL)
	if err != nil {
		return err
	}
	if !isConsentPage(body) {
		return fmt.Errorf("oauthtest: %s did not show the consent page", redact(resp.Request.URL))
	}
	action, id, err := parseConsentForm(resp.Request.URL, body)
	if err != nil {
		return err
	}
	choice := "deny"
	if approve {
		choice = "approve"
	}
	form := url.Values{"request_id": {id}, "action": {choice}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("oauthtest: consent request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, _, err = do(hc, req)
	return err
}

func newBrowserClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
}

func get(ctx context.Context, hc *http.Client, rawURL string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("oauthtest: bad authorization URL: %w", err)
	}
	return do(hc, req)
}

// do sends req, follows redirects and reads at most 1 MiB of the final body.
func do(hc *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("oauthtest: browser: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("oauthtest: browser: read %s: %w", redact(resp.Request.URL), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet := strings.TrimSpace(string(body))
		if len(snippet) > 200 {
			snippet = snippet[:200]
		}
		return nil, nil, fmt.Errorf("oauthtest: browser: %s answered %s: %s", redact(resp.Request.URL), resp.Status, snippet)
	}
	return resp, body, nil
}

// redact drops the query, which may carry codes or state.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String()
}

func isConsentPage(body []byte) bool {
	return strings.Contains(string(body), `name="request_id"`)
}

var (
	formActionRE = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	requestIDRE  = regexp.MustCompile(`name="request_id" value="([^"]+)"`)
)

func parseConsentForm(page *url.URL, body []byte) (action, id string, err error) {
	a := formActionRE.FindSubmatch(body)
	i := requestIDRE.FindSubmatch(body)
	if a == nil || i == nil {
		return "", "", errors.New("oauthtest: consent page has no approval form")
	}
	ref, err := url.Parse(string(a[1]))
	if err != nil {
		return "", "", fmt.Errorf("oauthtest: consent form action: %w", err)
	}
	return page.ResolveReference(ref).String(), string(i[1]), nil
}

// RedirectURL plays a browser whose redirect to the client cannot arrive (a
// browser on another machine): it GETs authURL, follows redirects on the
// authorization server's own host, and returns the URL of the first
// redirect elsewhere — the callback URL with code and state — without
// requesting it. That is what a user pastes in paste mode.
func RedirectURL(ctx context.Context, authURL string) (string, error) {
	start, err := url.Parse(authURL)
	if err != nil {
		return "", fmt.Errorf("oauthtest: bad authorization URL: %w", err)
	}
	hc := newBrowserClient()
	var target string
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Host != start.Host {
			target = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return "", fmt.Errorf("oauthtest: bad authorization URL: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("oauthtest: browser: %w", err)
	}
	resp.Body.Close()
	if target == "" {
		return "", fmt.Errorf("oauthtest: %s did not redirect to the client (HTTP %d)", redact(resp.Request.URL), resp.StatusCode)
	}
	return target, nil
}
