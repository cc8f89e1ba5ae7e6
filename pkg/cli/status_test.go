package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// TestStatusShowsInvalidRecords writes hostile job records straight into a real nats-server's KV and runs the
// client verbs on them: `status` lists each as invalid with the reason (and shows it alone), `cancel` replaces it
// with a cancelled record, `delete` removes it; a valid job beside them is listed as ever.
func TestStatusShowsInvalidRecords(t *testing.T) {
	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	storeDir := t.TempDir()
	cl, err := cluster.Open(ctx, cluster.Config{NATS: queue.ConnConfig{URL: srv.URL()}, StoreDir: storeDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	run := func(t *testing.T, cmd *cobra.Command, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--nats", srv.URL(), "--store-dir", storeDir))
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("%s %v: %v\n%s", cmd.Name(), args, err, out.String())
		}
		return out.String()
	}
	good := job.NewID()
	b := []byte(`{"version":1,"id":"` + good + `","state":"done","created":"2026-01-01T00:00:00Z"}`)
	if _, err := cl.State.Put(ctx, job.RecordKey(good), b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		value func(id string) string
		want  string
	}{
		{"garbage", func(string) string { return "{{{" }, "cannot decode"},
		{"NaN", func(id string) string { return `{"id":"` + id + `","state":"queued","split_seconds":NaN}` }, "cannot decode"},
		{"unknown state", func(id string) string { return `{"id":"` + id + `","state":"exploded"}` }, "state \"exploded\""},
		{"output_ext traversal", func(id string) string {
			return `{"id":"` + id + `","state":"queued","submission":{"source_key":"` + job.InputKey(id, "source", ".png") +
				`","target_key":"` + job.InputKey(id, "target", ".mp4") + `","output_ext":"/../../x.mp4"}}`
		}, "submission.output_ext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := job.NewID()
			put := func() {
				if _, err := cl.State.Put(ctx, job.RecordKey(id), []byte(tc.value(id))); err != nil {
					t.Fatal(err)
				}
			}
			put()
			var line string
			for _, l := range strings.Split(run(t, statusCmd()), "\n") {
				if strings.HasPrefix(l, id) {
					line = l
				}
			}
			if !strings.Contains(line, "invalid") || !strings.Contains(line, tc.want) {
				t.Errorf("status lists %q, want it invalid with %q", line, tc.want)
			}
			if out := run(t, statusCmd(), id); !strings.Contains(out, "invalid job record") || !strings.Contains(out, tc.want) {
				t.Errorf("status %s: %q", id, out)
			}
			run(t, cancelCmd(), id)
			if out := run(t, statusCmd(), id); !strings.Contains(out, "cancelled") {
				t.Errorf("status after cancel: %q", out)
			}
			put()
			run(t, deleteCmd(), id)
			if out := run(t, statusCmd()); strings.Contains(out, id) || !strings.Contains(out, good) {
				t.Errorf("status after delete:\n%s", out)
			}
		})
	}
}
