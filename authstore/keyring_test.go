package authstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestOpenModes(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(OpenOptions{Mode: "vault", Dir: dir})
	var me *ModeError
	if !errors.Is(err, ErrUnknownMode) || !errors.As(err, &me) || me.Mode != "vault" {
		t.Fatalf("unknown mode: %v", err)
	}
	for _, want := range []string{EnvCredentialsStore, "auto", "keyring", "file", `"vault"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	st, err := Open(OpenOptions{Mode: " File ", Dir: dir})
	if _, ok := st.(*FileStore); err != nil || !ok {
		t.Fatalf("file mode: %T, %v", st, err)
	}
	if _, err := Open(OpenOptions{Mode: "keyring"}); err == nil {
		t.Error("keyring mode without a data directory succeeded")
	}
}

// TestKeyringItemsFitPlatformLimits checks, as a pure function of the
// platform's chunk size, that every value the keyring store writes on
// Windows fits Credential Manager's 2,560-byte blob and every value on macOS
// fits a Keychain item after go-keyring's base64 encoding; larger documents
// are split over chunk items that reassemble to the document. (The writes
// themselves run against a real Secret Service in TestKeyringSession; no
// Windows or macOS runner is available.)
func TestKeyringItemsFitPlatformLimits(t *testing.T) {
	// go-keyring on macOS stores "go-keyring-base64:" + base64(value); the
	// item (service, account, value) must stay within about 3,000 bytes.
	const darwinItemMax = 3000
	account := "credentials@" + `C:\Users\someone with a long name\.local\share\mcplink` + strings.Repeat("x", 100)
	fits := map[string]func(v []byte) bool{
		"windows": func(v []byte) bool { return len(v) <= windowsBlobMax },
		"darwin": func(v []byte) bool {
			return len("go-keyring-base64:")+base64.StdEncoding.EncodedLen(len(v))+len(DefaultKeyringService)+len(account) <= darwinItemMax
		},
	}
	for goos, ok := range fits {
		size := chunkSizeFor(goos)
		for _, n := range []int{10, size - 40, size, size + 1, 2560, 10 << 10, 200 << 10} {
			// JSON with multi-byte characters, so chunk edges split them.
			data, err := json.Marshal(map[string]string{"tok": strings.Repeat("é€a", n/6+1)[:max(0, n/2)]})
			if err != nil {
				t.Fatal(err)
			}
			head, parts, err := layoutItems(data, size, "b")
			if err != nil {
				t.Fatal(err)
			}
			if !ok(head) {
				t.Errorf("%s, %d-byte document: head item of %d bytes exceeds the platform limit", goos, len(data), len(head))
			}
			var h keyringHead
			if err := json.Unmarshal(head, &h); err != nil {
				t.Fatal(err)
			}
			if parts == nil {
				if !bytes.Equal(h.Doc, data) || h.Chunks != 0 {
					t.Errorf("%s, %d bytes: single item does not hold the document", goos, len(data))
				}
				continue
			}
			var joined []byte
			for i, p := range parts {
				if p == "" || !ok([]byte(p)) {
					t.Errorf("%s, %d bytes: chunk %d has %d bytes", goos, len(data), i, len(p))
				}
				joined = append(joined, p...)
			}
			sum := sha256.Sum256(joined)
			if !bytes.Equal(joined, data) || h.Chunks != len(parts) || h.Slot != "b" || h.SHA256 != hex.EncodeToString(sum[:]) || h.Doc != nil {
				t.Errorf("%s, %d bytes: chunks do not reassemble to the document (head %s)", goos, len(data), head)
			}
		}
	}
	if got := chunkSizeFor("linux"); got > windowsBlobMax {
		t.Errorf("default chunk size %d exceeds %d", got, windowsBlobMax)
	}
}

func TestKeyringUnavailableWording(t *testing.T) {
	if got := fileProtection("windows"); strings.Contains(got, "0600") || !strings.Contains(got, "profile") {
		t.Errorf("Windows file store described as %q: it has no file modes, its profile's ACL protects it", got)
	}
	if got := fileProtection("darwin"); got != "mode 0600" {
		t.Errorf("Unix file store described as %q", got)
	}
	msg := (&KeyringUnavailableError{Reason: "x"}).Error()
	if !strings.Contains(msg, EnvCredentialsStore+"=file") || !strings.Contains(msg, fileProtection(runtime.GOOS)) || !strings.Contains(msg, keyringFix(false)) {
		t.Errorf("message %q lacks the fix", msg)
	}
}
