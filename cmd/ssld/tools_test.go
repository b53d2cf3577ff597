package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// The external client tools the tests run against a node, as an operator
// runs them: the mysql family over verified TLS, and openssl s_client as an
// independent witness of the certificate served.

// Bounds on one run of an external client tool.
const (
	mysqlToolTimeout = 30 * time.Second
	opensslTimeout   = 10 * time.Second
)

// mysqlTLSArgs are the options of mysql, mariadb-admin and mariadb-dump that
// reach the node at addr over TCP as user, verifying its certificate with
// the CA of the node's folder dir (the dev state layout).
func mysqlTLSArgs(t *testing.T, addr, dir, user, pw string) []string {
	t.Helper()
	host, port := splitAddr(t, addr)
	return []string{"--protocol=TCP", "-h", host, "-P", port, "-u", user, "-p" + pw,
		"--ssl", "--ssl-ca=" + filepath.Join(dir, devCACert), "--ssl-verify-server-cert"}
}

// mysqlTLS runs bin (mysql, mariadb-admin, mariadb-dump) with mysqlTLSArgs
// for the test node and then args, and returns its combined output.
func (tn *testNode) mysqlTLS(t *testing.T, bin, user, pw string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mysqlToolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(mysqlTLSArgs(t, tn.addr, tn.dir, user, pw), args...)...).CombinedOutput()
	return string(out), err
}

// mysqlSocket runs bin (mysql, mariadb-admin) on the node's Unix socket as
// user with password pw, then args, and returns its combined output.
func mysqlSocket(bin, socket, user, pw string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), mysqlToolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-S", socket, "-u", user, "-p" + pw}, args...)...).CombinedOutput()
	return string(out), err
}

// opensslSerial reads the certificate served on a new handshake with
// `openssl s_client -starttls mysql` (plus args: a TLS version, signature
// algorithms) and returns its serial exactly as openssl prints it: ssld's
// serials keep the leading zero too.
func opensslSerial(t *testing.T, addr string, args ...string) string {
	t.Helper()
	testenv.LookPath(t, "openssl")
	serial, err := opensslServedSerial(addr, args...)
	require.NoError(t, err)
	return serial
}

// opensslServedSerial is opensslSerial without testing.T, for goroutines.
func opensslServedSerial(addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opensslTimeout)
	defer cancel()
	sc := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-starttls", "mysql", "-connect", addr, "-servername", "localhost"}, args...)...)
	sc.Stdin = strings.NewReader("")
	var stderr bytes.Buffer
	sc.Stderr = &stderr
	out, err := sc.Output()
	if err != nil {
		return "", fmt.Errorf("openssl s_client %v: %v: %s", args, err, stderr.String())
	}
	x := exec.CommandContext(ctx, "openssl", "x509", "-noout", "-serial")
	x.Stdin = bytes.NewReader(out)
	ser, err := x.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("openssl x509 (after s_client %v): %v: %s", args, err, ser)
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(ser)), "serial=")), nil
}
