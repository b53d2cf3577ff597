package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// readNoEcho reads one line from the terminal tty with echo off. Echo
// goes off before the prompt is written, as in MySQL's get_tty_password, so
// that nothing typed once the prompt shows (type-ahead included) is echoed;
// term.ReadPassword would turn it off only after the prompt. The terminal's
// mode is restored before it returns.
func readNoEcho(tty *os.File, prompt io.Writer, text string) (string, error) {
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", fmt.Errorf("reading the terminal's mode: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", fmt.Errorf("turning the terminal's echo off: %w", err)
	}
	defer func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }()
	fmt.Fprint(prompt, text)
	defer fmt.Fprintln(prompt)

	// In canonical mode a read returns at most one line, so nothing typed
	// ahead for a later prompt is consumed here.
	var line []byte
	buf := make([]byte, 256)
	for len(line) < 4096 {
		n, err := tty.Read(buf)
		line = append(line, buf[:n]...)
		if i := strings.IndexByte(string(line), '\n'); i >= 0 {
			return strings.TrimSuffix(string(line[:i]), "\r"), nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return string(line), nil
			}
			return "", fmt.Errorf("reading the password from the terminal: %w", err)
		}
	}
	return "", errors.New("reading the password from the terminal: longer than 4096 bytes")
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
