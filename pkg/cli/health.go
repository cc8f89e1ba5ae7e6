package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/health"
	"github.com/facefleet/facefleet/pkg/store"
)

// httpAddrFlag is --http-addr of the daemons: where their probes (and a worker's /drain) are served.
func httpAddrFlag(f *pflag.FlagSet, addr *string) {
	f.StringVar(addr, "http-addr", "", "serve /healthz and /readyz (a worker: POST /drain too) on this host:port, e.g. :8080 (empty = no HTTP server)")
}

// startProbes serves /healthz and /readyz on addr ("" = nowhere) for a daemon whose main loop ticks beat: liveness
// is the loop turning; readiness adds NATS connected, the store answering (polled every health.DefaultRecheck, not
// asked per probe) and the daemon's own checks. stop shuts the server down; the daemon may add handlers to srv.
func startProbes(addr string, cl *cluster.Cluster, beat *health.Beat, checks ...health.Check) (srv *health.Server, stop func(), err error) {
	srv = health.New()
	if addr == "" {
		return srv, func() {}, nil
	}
	poll := health.StartPoll(0, func(ctx context.Context) error { return store.Ping(ctx, cl.Blob) })
	srv.Live("loop", beat.Alive)
	srv.Ready("serving", beat.Serving)
	srv.Ready("nats", cl.Conn.Connected)
	srv.Ready("store", poll.Err)
	for _, c := range checks {
		srv.Ready(c.Name, c.Err)
	}
	stopHTTP, err := health.Serve(addr, srv)
	if err != nil {
		poll.Stop()
		return nil, nil, err
	}
	return srv, func() { stopHTTP(); poll.Stop() }, nil
}

// drainCmd is `worker drain`: Kubernetes' preStop, run in the worker's own pod. It asks only a worker on this
// machine (a loopback address; the worker refuses /drain from anywhere else too) and waits until the worker's
// segments in flight are settled, so that SIGTERM, which Kubernetes sends once preStop returns, finds nothing to do.
func drainCmd() *cobra.Command {
	var (
		addr    string
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:     "drain --http-addr 127.0.0.1:8080",
		Short:   "Make the worker on this machine stop taking tasks and settle its segments in flight, without exiting",
		Example: examples("worker drain --http-addr 127.0.0.1:8080"),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				return errors.New("--http-addr is required: the address the worker serves on (e.g. 127.0.0.1:8080)")
			}
			if timeout < 0 {
				return fmt.Errorf("--timeout %s: want >= 0", timeout)
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if err := health.RequestDrain(ctx, addr, true); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "drained")
			return nil
		},
	}
	httpAddrFlag(c.Flags(), &addr)
	c.Flags().DurationVar(&timeout, "timeout", 0, "stop waiting for the drain after this long (0 = until the worker has drained)")
	return c
}
