package cli

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseHeadersBothForms(t *testing.T) {
	got, err := parseHeaders([]string{
		"Authorization: Bearer a=b",
		"X-Api-Key=k:1",
		" X-Team = core ",
		"X-Empty:",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Authorization": "Bearer a=b", "X-Api-Key": "k:1", "X-Team": "core", "X-Empty": ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"novalue", "=v", "Bad Name: v", "X-A: v\r\nX-B: injected", "Ünicode: v", "X-Nul: a\x00b"} {
		_, err := parseHeaders([]string{bad})
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitConfig {
			t.Errorf("%q: err = %v, want a usage error", bad, err)
		}
	}
}
