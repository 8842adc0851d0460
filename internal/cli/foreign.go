package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/x/term"

	"github.com/mcplink/mcplink/clients"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/termtext"
)

// foreignReader reads other MCP clients' files named with --config (see
// clients.ReadFile): they are the user's own choice, so trusted. VS Code
// ${input:…} values are asked for on a terminal.
func (f *Factory) foreignReader() config.ForeignReader {
	return func(path string, data []byte) ([]*config.Entry, bool, error) {
		v := clients.Vars{Getenv: f.lookupEnv, Home: f.HomeDir, WorkDir: f.WorkDir}
		if f.interactive() && !f.noPrompt {
			v.Input = f.askInput
		}
		return clients.ReadFile(path, data, v)
	}
}

// maxInputLine bounds an answer typed for a VS Code input.
const maxInputLine = 64 << 10

// askInput asks for a VS Code input on the terminal: a password without
// echo. It reads stdin directly, a byte at a time, so nothing past the
// answer is consumed.
func (f *Factory) askInput(in clients.VSCodeInput) (string, error) {
	desc := in.Description
	if desc == "" {
		desc = in.ID
	}
	prompt := termtext.Line(desc)
	if in.Default != "" && !in.Password {
		prompt += " [" + termtext.Line(in.Default) + "]"
	}
	fmt.Fprintf(f.IO.ErrOut, "%s: ", prompt)
	var answer string
	if file, ok := f.IO.In.(*os.File); ok && in.Password {
		b, err := term.ReadPassword(file.Fd())
		fmt.Fprintln(f.IO.ErrOut)
		if err != nil {
			return "", err
		}
		answer = string(b)
	} else {
		var b strings.Builder
		buf := make([]byte, 1)
		for b.Len() < maxInputLine {
			n, err := f.IO.In.Read(buf)
			if n == 1 {
				if buf[0] == '\n' {
					break
				}
				b.WriteByte(buf[0])
			}
			if errors.Is(err, io.EOF) {
				if b.Len() == 0 {
					return "", errors.New("no answer (end of input)")
				}
				break
			}
			if err != nil {
				return "", err
			}
		}
		answer = strings.TrimRight(b.String(), "\r")
	}
	if answer == "" {
		answer = in.Default
	}
	return answer, nil
}

// ForeignFileError is an edit refused because the file is another
// client's: mcplink writes only its own format.
type ForeignFileError struct {
	File   string
	Client string
}

func (e *ForeignFileError) Error() string {
	who := "another MCP client's file"
	if e.Client != "" {
		who = e.Client + "'s file"
	}
	return fmt.Sprintf("%s is %s; mcplink does not edit it. Copy its servers into mcplink's config with \"mcplink import\", or edit it with its own client", e.File, who)
}

// Unwrap makes it a configuration error (exit 2).
func (e *ForeignFileError) Unwrap() error { return config.ErrInvalid }

// refuseForeign stops add/remove/enable from writing into a file of
// another client's format (it would be read as mcplink's afterwards, its
// own servers lost).
func refuseForeign(path string, data []byte) error {
	if format, _, _ := clients.Detect(path, data); format != "" {
		return &ForeignFileError{File: path, Client: clients.ClientOf(path)}
	}
	return nil
}
