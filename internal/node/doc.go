// Package node is the composition root of an ssld node: Start reads the
// config (internal/config), builds the TLS manager (tlsctx), the variables
// (sysvars), the executor (sqlcmd), the listeners (protocol), metrics,
// the file watcher and the systemd notifications, each complete before the
// next that uses it, and returns a *Node with its addresses, Reload,
// Status and Shutdown. Every reload trigger (SQL, SIGHUP, watch) goes
// through the node's one reload entry, which applies reload_timeout and
// tells systemd. cmd/ssld turns flags into Options; internal/nodetest
// starts nodes for tests.
package node
