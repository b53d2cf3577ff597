package protocol

import "time"

// NoLoginDelay turns off the failed-login delay of s, for the fuzz target:
// its inputs fail logins from 127.0.0.1 by the hundred, and the delay
// (up to 2 s per login from that address) would make every later input,
// and the normal client that checks the server after each, wait for it.
func NoLoginDelay(s *Server) { s.logins.sleep = func(time.Duration) {} }

// DecoyPlugin is the plugin an unknown name appears to have.
func DecoyPlugin(name string) string { return decoyPlugin(name) }
