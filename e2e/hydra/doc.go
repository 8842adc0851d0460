// Package hydra holds the opt-in end-to-end tests against a real Ory Hydra
// (build tag "hydra"; run them with `make test-hydra`, which builds Hydra at
// a pinned release first, see run.sh). The normal suite covers Hydra's
// answer shapes with internal/oauthtest's HydraQuirks instead.
package hydra
