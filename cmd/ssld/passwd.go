package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ssld/ssld/protocol"
)

func newPasswdCmd() *cobra.Command {
	var plugin string
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Print the password_hash value of a password for the users: section",
		Long: `Read a password and print the password_hash value for an account of the given plugin:
mysql_native_password (default): "*" and 40 hex digits, SHA1(SHA1(password)), as MySQL's
PASSWORD() printed it; caching_sha2_password: MySQL 8's authentication_string
("$A$005$" + salt + SHA-256 crypt), a new random salt each time.

From a terminal the password is read twice without echo; otherwise the first line of stdin is
read (a trailing newline is not part of the password). The password is never printed and never
taken from the command line. Exit 2 on an empty password, a mismatch or an unknown plugin.`,
		Example: `  ssld passwd
  ssld passwd --plugin caching_sha2_password < /etc/ssld/admin.pw`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The plugin is checked first: a typo must not cost the
			// operator two typed passwords.
			if plugin != protocol.PluginNative && plugin != protocol.PluginCachingSHA {
				return usageError{fmt.Errorf("--plugin %q: want %s or %s", plugin, protocol.PluginNative, protocol.PluginCachingSHA)}
			}
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return usageError{err}
			}
			h := protocol.NativePasswordHash(pw)
			if plugin == protocol.PluginCachingSHA {
				if h, err = protocol.CachingSHA2PasswordHash(pw); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	cmd.Flags().StringVar(&plugin, "plugin", protocol.PluginNative, "the account's plugin: mysql_native_password or caching_sha2_password")
	return cmd
}

// readPassword reads the password without echo (twice, to catch a typo)
// when in is a terminal, else the first line of in.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		a, err := readNoEcho(f, prompt, "Password: ")
		if err != nil {
			return "", err
		}
		b, err := readNoEcho(f, prompt, "Again: ")
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		if len(a) == 0 {
			return "", errors.New("empty password: accounts without a password are not allowed")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if pw == "" {
		return "", errors.New("empty password on stdin: accounts without a password are not allowed")
	}
	return pw, nil
}
