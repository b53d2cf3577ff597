//go:build !linux

package protocol

import (
	"errors"
	"net"
)

// peerUID is only implemented on Linux (SO_PEERCRED); elsewhere unix_socket
// accounts are refused.
func peerUID(net.Conn) (uint32, error) {
	return 0, errors.New("unix_socket authentication needs SO_PEERCRED (Linux)")
}
