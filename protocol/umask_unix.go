//go:build unix

package protocol

import "syscall"

// umask sets the process umask so that the socket file is created with mode
// 0600 from the start, not only after the chmod that follows.
func umask(mask int) int { return syscall.Umask(mask) }
