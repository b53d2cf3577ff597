// Package freeport finds loopback TCP addresses for servers that must be
// told their port before they start (a child ssld, mariadbd). It binds port
// 0 and closes it, so another process may still take the port before the
// server binds: callers that can, retry.
package freeport

import (
	"net"
	"strconv"
	"sync"
)

var handedOut sync.Map // addresses Addr returned

// Addr returns a 127.0.0.1 address whose port was free a moment ago, and
// never one it returned before in this process (the kernel may hand a
// just-closed port out again). Safe for concurrent use.
func Addr() (string, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			return "", err
		}
		if _, dup := handedOut.LoadOrStore(addr, true); !dup {
			return addr, nil
		}
	}
}

// Port is Addr's port.
func Port() (int, error) {
	a, err := Addr()
	if err != nil {
		return 0, err
	}
	_, p, err := net.SplitHostPort(a)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}
