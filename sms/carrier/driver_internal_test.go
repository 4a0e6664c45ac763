package carrier

import (
	"crypto/tls"
	"net"
	"testing"
)

// The write tracker finds the counted connection under TLS, so that it
// counts the request's bytes rather than assuming the worst.
func TestCounting(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cc := &countingConn{Conn: a}
	if got := counting(tls.Client(cc, &tls.Config{InsecureSkipVerify: true})); got != cc {
		t.Errorf("counting(tls.Client(c)) = %v, want c", got)
	}
	if got := counting(cc); got != cc {
		t.Errorf("counting(c) = %v, want c", got)
	}
	if got := counting(b); got != nil {
		t.Errorf("counting of an uncounted connection = %v, want nil", got)
	}
}
