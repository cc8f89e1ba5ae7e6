package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// Drainer is a process that can stop taking work without exiting (a worker).
type Drainer interface {
	// Drain starts the drain; calling it again does nothing.
	Drain()
	// Drained is closed once the drain has settled the work in flight.
	Drained() <-chan struct{}
}

// DrainHandler answers POST /drain: it starts d's drain and answers 202 "draining", or with ?wait=1, 200 "drained"
// once the work in flight is settled. Only a client on this machine (a loopback address) may ask: the probes'
// port listens on every interface of a pod, and anyone who can reach it must not be able to idle the fleet.
func DrainHandler(d Drainer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "drain: POST only", http.StatusMethodNotAllowed)
			return
		}
		if !loopbackPeer(r.RemoteAddr) {
			http.Error(w, "drain: only from this machine (127.0.0.1)", http.StatusForbidden)
			return
		}
		d.Drain()
		if r.URL.Query().Get("wait") == "" {
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintln(w, "draining")
			return
		}
		select {
		case <-d.Drained():
			fmt.Fprintln(w, "drained")
		case <-r.Context().Done():
		}
	})
}

func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localClient dials the address it is given, never a proxy from the environment.
var localClient = &http.Client{Transport: &http.Transport{Proxy: nil}}

// ErrNotLocal is returned by RequestDrain for an address that is not this machine's.
var ErrNotLocal = errors.New("drain asks only a worker on this machine: use 127.0.0.1:PORT or localhost:PORT")

// RequestDrain asks the worker serving on addr (this machine's: "127.0.0.1:8080", "localhost:8080", ":8080") to
// drain; with wait it returns once the worker's work in flight is settled, or ctx ends. A remote address is
// refused here as the server refuses it (Kubernetes' preStop runs in the worker's own pod).
func RequestDrain(ctx context.Context, addr string, wait bool) error {
	a, err := Addr(addr)
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(a)
	if ip := net.ParseIP(host); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return fmt.Errorf("--http-addr %s: %w", addr, ErrNotLocal)
	}
	url := "http://" + a + DrainPath
	if wait {
		url += "?wait=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := localClient.Do(req)
	if err != nil {
		return fmt.Errorf("drain %s: %w", a, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("drain %s: %s: %s", a, resp.Status, oneLine(string(body)))
	}
	if wait && strings.TrimSpace(string(body)) != "drained" {
		return fmt.Errorf("drain %s: the worker did not say drained (%q)", a, oneLine(string(body)))
	}
	return nil
}
