package authstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mcplink/mcplink/internal/safefile"
)

// EnvCredentialsStore is the environment variable that selects the
// credential store backend; its value is passed as OpenOptions.Mode.
const EnvCredentialsStore = "MCPLINK_CREDENTIALS_STORE"

// Store modes accepted by Open.
const (
	// ModeAuto uses the system keyring when it answers within the probe
	// timeout and is unlocked, else the 0600 file (with a notice).
	ModeAuto = "auto"
	// ModeKeyring requires the system keyring.
	ModeKeyring = "keyring"
	// ModeFile uses the 0600 credentials file in the data directory.
	ModeFile = "file"
)

// DefaultProbeTimeout bounds how long Open waits for the system keyring.
const DefaultProbeTimeout = 3 * time.Second

// DefaultKeyringService is the keyring service name used when
// OpenOptions.Service is empty.
const DefaultKeyringService = "mcplink"

// ErrUnknownMode is matched (errors.Is) by the error Open returns for a mode
// other than auto, keyring or file.
var ErrUnknownMode = errors.New("unknown credentials store mode")

// ModeError reports an unknown OpenOptions.Mode.
type ModeError struct {
	Mode string // the value given
}

// Error names the variable and the allowed values.
func (e *ModeError) Error() string {
	return fmt.Sprintf("authstore: unknown credentials store %q in %s; use one of: %s, %s, %s",
		e.Mode, EnvCredentialsStore, ModeAuto, ModeKeyring, ModeFile)
}

// Is makes errors.Is(err, ErrUnknownMode) true.
func (e *ModeError) Is(target error) bool { return target == ErrUnknownMode }

// OpenOptions selects and configures a credential store.
type OpenOptions struct {
	// Mode is auto (the default when empty), keyring or file; normally the
	// value of $MCPLINK_CREDENTIALS_STORE.
	Mode string
	// Dir is the data directory (see DefaultDir). The file store keeps its
	// file there; both backends keep their lock file there.
	Dir string
	// Notify, if set, receives one-line notices for the user, such as the
	// fallback from the keyring to the file. Notices never contain secrets.
	Notify func(string)
	// ProbeTimeout bounds the keyring probe; DefaultProbeTimeout when zero.
	ProbeTimeout time.Duration
	// Service is the keyring service name; DefaultKeyringService when empty.
	Service string
}

// Open returns the credential store selected by opts.Mode.
//
//   - file: a FileStore in opts.Dir.
//   - keyring: a KeyringStore, after probing the keyring; if the probe fails
//     or times out the error matches ErrKeyringUnavailable and names the fix.
//   - auto: like keyring, but when the keyring is missing, locked or does not
//     answer within ProbeTimeout, a FileStore is returned and one notice is
//     sent. When the credentials file already holds entries, auto keeps
//     using it without probing, so credentials saved while the keyring was
//     unavailable (an SSH session, say) are not stranded.
func Open(opts OpenOptions) (Store, error) {
	mode := strings.ToLower(strings.TrimSpace(opts.Mode))
	if mode == "" {
		mode = ModeAuto
	}
	switch mode {
	case ModeFile:
		return NewFileStore(FileOptions{Dir: opts.Dir, Notify: opts.Notify})
	case ModeKeyring, ModeAuto:
	default:
		return nil, &ModeError{Mode: opts.Mode}
	}
	if opts.Dir == "" {
		return nil, errNoDataDir
	}
	if mode == ModeAuto && fileHasEntries(opts.Dir) {
		return NewFileStore(FileOptions{Dir: opts.Dir, Notify: opts.Notify})
	}
	timeout := opts.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	ks, err := NewKeyringStore(KeyringOptions{Dir: opts.Dir, Service: opts.Service, Notify: opts.Notify})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err = ks.Probe(ctx)
	cancel()
	if err == nil {
		return ks, nil
	}
	if mode == ModeKeyring {
		return nil, err
	}
	fs, ferr := NewFileStore(FileOptions{Dir: opts.Dir, Notify: opts.Notify})
	if ferr != nil {
		return nil, ferr
	}
	if opts.Notify != nil {
		opts.Notify(fmt.Sprintf("notice: %s; storing credentials in %s (%s) instead; set %s=file to silence this", describeUnavailable(err), fs.Path(), fileProtection(runtime.GOOS), EnvCredentialsStore))
	}
	return fs, nil
}

// describeUnavailable is the one-line reason for a failed probe, without the
// fix (the fallback notice gives its own).
func describeUnavailable(err error) string {
	var ue *KeyringUnavailableError
	if errors.As(err, &ue) {
		return ue.summary()
	}
	return "system keyring unavailable"
}

// fileHasEntries reports whether dir's credentials file parses and holds at
// least one entry. Any problem reading it means "no" (a FIFO or a device
// there is not read at all, so this never blocks).
func fileHasEntries(dir string) bool {
	data, err := safefile.ReadRegular(filepath.Join(dir, fileName), maxFileSize)
	if err != nil {
		return false
	}
	doc, err := parseDocument(data, "")
	return err == nil && len(doc.Servers) > 0
}
