//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package authstore

import (
	"context"
	"slices"

	dbus "github.com/godbus/dbus/v5"
)

// platformChunkSize is the largest value stored in one Secret Service item.
// The protocol has no hard limit, but large items are slow.
const platformChunkSize = 64 << 10

const (
	secretsName       = "org.freedesktop.secrets"
	secretsPath       = dbus.ObjectPath("/org/freedesktop/secrets")
	secretsService    = "org.freedesktop.Secret.Service"
	secretsCollection = "org.freedesktop.Secret.Collection"
	loginCollection   = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
)

// keyringFix names the step that makes the Secret Service usable.
func keyringFix(locked bool) string {
	if locked {
		return "unlock the keyring (log in to the desktop session, or run gnome-keyring-daemon --unlock)"
	}
	return "start a Secret Service provider such as gnome-keyring in this session (DBUS_SESSION_BUS_ADDRESS must reach it)"
}

// preflight checks, on a private D-Bus connection whose every step is bound
// to ctx (godbus closes a connection made WithContext when ctx ends, which
// fails its pending handshake and calls), that a Secret Service is on the
// session bus and that the collection go-keyring uses exists and is
// unlocked. It never triggers an unlock prompt, so it cannot hang on one.
// Bus autolaunch (dbus-launch) is not attempted.
func preflight(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // closes conn
	conn, err := dbus.SessionBusPrivateNoAutoStartup(dbus.WithContext(ctx))
	if err != nil {
		return &KeyringUnavailableError{Reason: "no D-Bus session bus", Err: err}
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return &KeyringUnavailableError{Reason: "cannot connect to the D-Bus session bus", Err: ctxOr(ctx, err)}
	}
	if err := conn.Hello(); err != nil {
		return &KeyringUnavailableError{Reason: "cannot connect to the D-Bus session bus", Err: ctxOr(ctx, err)}
	}
	var has bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, secretsName).Store(&has); err != nil {
		return &KeyringUnavailableError{Reason: "the D-Bus session bus does not answer", Err: ctxOr(ctx, err)}
	}
	if !has {
		var names []string
		if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil || !slices.Contains(names, secretsName) {
			return &KeyringUnavailableError{Reason: "no Secret Service (" + secretsName + ") on the D-Bus session bus"}
		}
	}
	svc := conn.Object(secretsName, secretsPath)
	var cols dbus.Variant
	if err := svc.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, secretsService, "Collections").Store(&cols); err != nil {
		return &KeyringUnavailableError{Reason: "the Secret Service does not answer", Err: ctxOr(ctx, err)}
	}
	// Same choice as go-keyring: the "login" collection, else the default alias.
	col := loginCollection
	if paths, _ := cols.Value().([]dbus.ObjectPath); !slices.Contains(paths, loginCollection) {
		if err := svc.CallWithContext(ctx, secretsService+".ReadAlias", 0, "default").Store(&col); err != nil {
			return &KeyringUnavailableError{Reason: "the Secret Service does not answer", Err: ctxOr(ctx, err)}
		}
		if col == "/" || col == "" {
			return &KeyringUnavailableError{Reason: "the Secret Service has no default keyring"}
		}
	}
	var locked dbus.Variant
	if err := conn.Object(secretsName, col).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, secretsCollection, "Locked").Store(&locked); err != nil {
		return &KeyringUnavailableError{Reason: "the Secret Service does not answer", Err: ctxOr(ctx, err)}
	}
	if b, _ := locked.Value().(bool); b {
		return &KeyringUnavailableError{Reason: "the keyring " + string(col) + " is locked", Locked: true}
	}
	return nil
}

// ctxOr prefers ctx's error: when ctx ended, the D-Bus error is only a
// consequence of the connection being closed.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// abortKeyringCalls closes go-keyring's shared session bus connection: every
// pending call on it fails at once and its prompt waits end. go-keyring
// reconnects on its next call. (preflight has just connected to the same
// bus with a deadline, so obtaining the shared connection does not hang.)
func abortKeyringCalls() {
	if conn, err := dbus.SessionBus(); err == nil {
		_ = conn.Close()
	}
}
