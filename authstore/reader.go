package authstore

import "context"

// Reader is a read-only source of credentials, such as the file another MCP
// client keeps its OAuth state in (see package clients). Load returns
// ErrNotFound when it has nothing for name.
type Reader interface {
	Load(ctx context.Context, name string) (*Credentials, error)
	List(ctx context.Context) (map[string]*Credentials, error)
}
