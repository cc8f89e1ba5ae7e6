package testenv

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddrOutsideEphemeralRange: a port from the kernel's ephemeral range can be taken by an outgoing
// connection between FreeAddr and the server's listen (BenchmarkScale lost a worker so); FreeAddr's are below it,
// distinct, and free.
func TestFreeAddrOutsideEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low <= 2048 {
		t.Skipf("ephemeral range starts at %d: FreeAddr falls back to the kernel's choice", low)
	}
	seen := map[string]bool{}
	for range 50 {
		a := FreeAddr(t)
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port >= low || port < low/2 {
			t.Fatalf("FreeAddr = %s: want a port in [%d, %d)", a, low/2, low)
		}
		if seen[a] {
			t.Fatalf("FreeAddr gave %s twice", a)
		}
		seen[a] = true
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("FreeAddr's %s: %v", a, err)
		}
		l.Close()
	}
}
