// Command worker is a Facefleet worker daemon: it loads the models once, pulls segment tasks from NATS JetStream,
// processes them and commits the results.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/facefleet/facefleet/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Worker().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", cli.OneLine(err))
		os.Exit(1)
	}
}
