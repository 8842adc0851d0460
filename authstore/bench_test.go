package authstore

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// benchStore returns a store holding ten realistic entries.
func benchStore(b *testing.B) *FileStore {
	b.Helper()
	s, _ := newTestStore(b, b.TempDir())
	for i := range 10 {
		name := "server" + strconv.Itoa(i)
		c := &Credentials{
			ServerURL: "https://" + name + ".example/mcp",
			Issuer:    "https://as.example",
			Client:    &Client{ClientID: "client-" + name, Dynamic: true, RegisteredAt: time.Now()},
			Token:     &Token{AccessToken: pad[:800], RefreshToken: pad[:64], TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)},
		}
		if err := s.Update(context.Background(), name, put(c)); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func reportFileSize(b *testing.B, s *FileStore) {
	if fi, err := osStat(s.Path()); err == nil {
		b.ReportMetric(float64(fi), "file-bytes")
	}
}

// BenchmarkUpdate measures one locked read-modify-write with fsyncs.
func BenchmarkUpdate(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		if err := s.Update(ctx, "server3", func(cur *Credentials) (*Credentials, error) {
			cur.Token.AccessToken = pad[:801]
			return cur, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	reportFileSize(b, s)
}

// BenchmarkLoad measures one shared-locked read and decode.
func BenchmarkLoad(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Load(ctx, "server3"); err != nil {
			b.Fatal(err)
		}
	}
	reportFileSize(b, s)
}

func osStat(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
