package cli

import "github.com/mcplink/mcplink/config"

// parseHeaders reads --header values for add and proxy alike: "K=V" or the
// curl-style "K: V" (config.SplitHeader); a bad one is a usage error.
func parseHeaders(hs []string) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		k, v, err := config.SplitHeader(h)
		if err != nil {
			return nil, usageError("--header: %w", err)
		}
		out[k] = v
	}
	return out, nil
}
