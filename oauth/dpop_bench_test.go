package oauth

import (
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// BenchmarkDPoPProof measures the per-request cost DPoP adds to every MCP
// request: one ES256 proof with ath.
func BenchmarkDPoPProof(b *testing.B) {
	k, err := newDPoPKey()
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse("https://mcp.example.com/mcp")
	now := time.Now()
	start := time.Now()
	for b.Loop() {
		if _, err := k.proof("POST", u, "access-token-value", "nonce", now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/proof")
}

// BenchmarkClientAssertion measures signing one private_key_jwt assertion.
func BenchmarkClientAssertion(b *testing.B) {
	k, err := newDPoPKey() // any P-256 key
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	a := &clientAssertion{clientID: "svc", audience: "https://as.example.com", signer: signer}
	start := time.Now()
	for b.Loop() {
		if _, err := a.sign(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/assertion")
}
