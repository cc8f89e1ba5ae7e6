package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is n nats-server processes on 127.0.0.1 routed into one JetStream cluster.
type NATSCluster struct {
	URL     string // every server's client URL, comma-separated
	servers []*process
}

// StartNATSCluster runs n nats-servers with JetStream clustered on 127.0.0.1 and waits until the cluster has
// elected its JetStream leader (a few seconds); they are stopped when the test ends.
func StartNATSCluster(tb testing.TB, n int) *NATSCluster {
	tb.Helper()
	bin := NATSServerBin(tb)
	clientPorts, routePorts := make([]int, n), make([]int, n)
	routes := make([]string, n)
	for i := range n {
		clientPorts[i], routePorts[i] = freePort(tb), freePort(tb)
		routes[i] = strconv.Quote(fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i]))
	}
	c := &NATSCluster{}
	urls := make([]string, n)
	for i := range n {
		dir := tb.TempDir()
		conf := filepath.Join(dir, "nats.conf")
		cfg := fmt.Sprintf("server_name: n%d\nlisten: \"127.0.0.1:%d\"\njetstream {\n  store_dir: %s\n}\n"+
			"cluster {\n  name: facefleet-test\n  listen: \"127.0.0.1:%d\"\n  routes: [%s]\n}\n",
			i+1, clientPorts[i], strconv.Quote(filepath.Join(dir, "jetstream")), routePorts[i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
			tb.Fatal(err)
		}
		name := fmt.Sprintf("nats-server-n%d", i+1)
		p, err := startProcess(tb, name, []string{bin, "-c", conf}, clientPorts[i])
		if err != nil {
			tb.Fatalf("%s: %v\n%s", name, err, p.tail())
		}
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Logf("%s log tail:\n%s", name, p.tail())
			}
			p.stop()
		})
		c.servers = append(c.servers, p)
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i])
	}
	c.URL = strings.Join(urls, ",")
	nc, err := nats.Connect(c.URL)
	if err != nil {
		tb.Fatalf("nats cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nats cluster: JetStream not ready after 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
