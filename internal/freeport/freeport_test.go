package freeport

import (
	"net"
	"testing"
)

// TestAddrNeverRepeats: every address is a bindable loopback address, and
// none is handed out twice.
func TestAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		a, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s is not bindable: %v", a, err)
		}
		l.Close()
	}
	if p, err := Port(); err != nil || p <= 0 {
		t.Fatalf("Port() = %d, %v", p, err)
	}
}
