// Command coordinator runs Facefleet jobs: `run` does the whole job on this machine through the cluster's own
// code path (embedded NATS, local store, in-process workers); `serve` is the cluster's coordinator daemon;
// `submit`, `status`, `watch`, `cancel`, `retry`, `download` and `workers` are its clients; `models` lists, fetches
// and verifies model files.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/facefleet/facefleet/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := cli.Coordinator()
	root.SetArgs(cli.RoopArgs(root, os.Args[1:])) // roop's `--frame-processor face_swapper face_enhancer`
	err := root.ExecuteContext(ctx)
	stop()
	var exit *cli.ExitError
	if errors.As(err, &exit) { // a verdict a script branches on (inspect), already reported
		os.Exit(exit.Code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", cli.OneLine(err))
		os.Exit(1)
	}
}
