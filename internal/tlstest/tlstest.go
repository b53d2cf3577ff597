// Package tlstest is a real tlsctx.Manager for the tests of the packages
// built on it (sqlcmd, sysvars): a CA, its certificate and a server pair in
// a temp folder that the test rewrites. Only tests import it. tlsctx's own
// tests keep their fixture: a package's internal tests cannot import a
// package that imports it.
package tlstest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/tlsctx"
)

// Files is the folder (server.crt, server.key, ca.crt) and the manager that
// serves it.
type Files struct {
	tb                        testing.TB
	Dir                       string
	CertPath, KeyPath, CAPath string
	CA                        *pki.CA
	First                     *pki.Leaf // the pair the manager started on
	Settings                  tlsctx.Settings
	M                         *tlsctx.Manager

	mu      sync.Mutex
	current tlsctx.Settings // what Source returns (Update changes it)
}

// Option changes the settings New starts the Manager on.
type Option func(*tlsctx.Settings)

// ClientOnly leaves the cluster channel unserved (tlsctx.ClusterAuto with
// no cluster setting): the Manager has the client channel alone, as a node
// without cluster_listen.
func ClientOnly(s *tlsctx.Settings) { s.Cluster, s.ClusterSSLCA = tlsctx.ClusterAuto, "" }

// New writes a CA named caName (its certificate in ca.crt) and a pair issued
// by it, and starts a Manager on the pair; with withCA, ssl_ca names ca.crt
// too. The cluster channel is served (the same pair, ca.crt as its CA: a
// served cluster channel needs one) unless ClientOnly is given.
func New(tb testing.TB, caName string, withCA bool, opts ...Option) *Files {
	tb.Helper()
	dir := tb.TempDir()
	f := &Files{tb: tb, Dir: dir, CA: pkitest.MustCA(tb, caName), CertPath: filepath.Join(dir, "server.crt"),
		KeyPath: filepath.Join(dir, "server.key"), CAPath: filepath.Join(dir, "ca.crt")}
	if err := os.WriteFile(f.CAPath, f.CA.CertPEM, 0o644); err != nil {
		tb.Fatalf("tlstest: %v", err)
	}
	f.First = f.Write("first")
	// Each leaf Write makes has a CN of its own (tests tell the leaves
	// apart by it), which the identity guard would refuse: these files
	// stand for material in general, not one node's identity.
	f.Settings = tlsctx.Settings{SSLCert: f.CertPath, SSLKey: f.KeyPath, Cluster: tlsctx.ClusterOn, ClusterSSLCA: f.CAPath,
		AllowIdentityChange: true}
	if withCA {
		f.Settings.SSLCA = f.CAPath
	}
	for _, o := range opts {
		o(&f.Settings)
	}
	f.current = f.Settings
	m, err := tlsctx.New(context.Background(), f.Source())
	if err != nil {
		tb.Fatalf("tlstest: new manager: %v", err)
	}
	f.M = m
	return f
}

// Write replaces the pair with a new localhost leaf named cn (each file
// atomically) and returns it; the manager serves it after its next reload.
func (f *Files) Write(cn string) *pki.Leaf {
	f.tb.Helper()
	return f.WriteLeaf(pki.LeafOptions{CN: cn})
}

// WriteLeaf is Write with the leaf's options (its validity window, key
// type); DNSNames defaults to localhost.
func (f *Files) WriteLeaf(opts pki.LeafOptions) *pki.Leaf {
	f.tb.Helper()
	if opts.DNSNames == nil {
		opts.DNSNames = []string{"localhost"}
	}
	leaf := pkitest.MustIssue(f.tb, f.CA, opts)
	if err := pki.WriteFile(f.CertPath, leaf.CertPEM, 0o644); err != nil {
		f.tb.Fatalf("tlstest: %v", err)
	}
	if err := pki.WriteFile(f.KeyPath, leaf.KeyPEM, 0o600); err != nil {
		f.tb.Fatalf("tlstest: %v", err)
	}
	return leaf
}

// Source is what M reads on every reload: Settings, as Update last changed
// them (a config file being edited). A test may start its own Manager on it.
func (f *Files) Source() tlsctx.Source {
	return tlsctx.SourceFunc(func(context.Context) (tlsctx.Settings, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.current, nil
	})
}

// Update changes the settings Source returns from now on; the Manager
// applies them at its next reload (or refuses them).
func (f *Files) Update(change func(*tlsctx.Settings)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.current)
}
