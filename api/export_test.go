package api

// Routes lists "METHOD pattern" of every route, for the OpenAPI test.
func Routes() []string {
	var s Server
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.method+" "+r.pattern)
	}
	return out
}
