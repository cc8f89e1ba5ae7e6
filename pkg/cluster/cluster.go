// Package cluster opens what every cluster process shares: the NATS connection with its work queue and KV buckets,
// and the blob store (S3, or a directory on one machine). The names and settings every process must agree on live
// here, once: a work queue's consumer and a KV bucket's TTL are updated to the last opener's settings.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

// Names every process uses.
const (
	Stream   = "FACEFLEET_TASKS"
	Consumer = "workers"
	Bucket   = "facefleet"
)

// DefaultSegmentSeconds is a job's segment length when its command gives none, for `run` and `serve` alike: about
// this long, snapped to keyframes. 30 s rather than 60: a crashed or redone segment costs half as much and a fleet
// (or run's --workers) gets twice the pieces to share, while a segment's fixed cost (its decoder and encoder opened,
// one more split cut, a task and a commit) stays a fraction of a second, under 1% of the minutes a worker spends on
// 30 s of video.
const DefaultSegmentSeconds = 30

// TasksConfig is the work queue's configuration. AckWait is long enough for a worker's InProgress heartbeats to
// miss a few beats; MaxDeliver is the last resort against a worker that dies on a segment every time (workers
// count real failures themselves and fail the job sooner; hand-backs of tasks that do not fit are not failures).
func TasksConfig() queue.TasksConfig {
	return queue.TasksConfig{Stream: Stream, Subjects: []string{job.SubjectAll}, Consumer: Consumer,
		AckWait: time.Minute, MaxDeliver: 100}
}

// Config says how to reach the cluster.
type Config struct {
	NATS queue.ConnConfig
	// S3 is the blob store; StoreDir, when set instead, is a directory every process shares (one machine, tests).
	S3       store.S3Config
	StoreDir string
	// StoreLinks hard-links files into and out of StoreDir instead of copying them (store.LocalConfig.Link): for
	// coordinator run, whose store lives and dies with it.
	StoreLinks bool
	// Heartbeat is how often processes publish their fleet record; records expire after fleet.TTLIntervals of them.
	Heartbeat time.Duration
	// Replicas is how many servers of a NATS cluster keep the task stream and every KV bucket (1 to
	// queue.MaxReplicas; 0 is 1): created so, and raised to it when they have fewer (never lowered).
	Replicas int
}

// Validate reports settings Open cannot use.
func (c *Config) Validate() error {
	if c.Heartbeat <= 0 {
		c.Heartbeat = fleet.DefaultInterval
	}
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if c.Replicas < 0 || c.Replicas > queue.MaxReplicas {
		return fmt.Errorf("--nats-replicas %d: want 1 to %d", c.Replicas, queue.MaxReplicas)
	}
	switch {
	case c.StoreDir != "" && c.S3.Endpoint != "":
		return errors.New("set either an S3 endpoint (--s3-endpoint) or a store directory (--store-dir), not both")
	case c.StoreDir == "" && c.S3.Endpoint == "":
		return errors.New("no blob store: set --s3-endpoint (or --store-dir for one machine)")
	case c.S3.Endpoint != "":
		return c.S3.Validate()
	}
	return nil
}

// Cluster is an open connection to the cluster's services.
type Cluster struct {
	Conn  *queue.Conn
	Tasks *queue.Tasks
	State *queue.State // jobs, plans, commits, progress
	Fleet *queue.State // heartbeats
	Blob  store.Blob
}

// Open connects to NATS and the blob store and checks both; every failure is one line naming what failed.
func Open(ctx context.Context, cfg Config, log *zap.Logger) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.NATS.Logger = log
	var blob store.Blob
	var err error
	if cfg.StoreDir != "" {
		blob, err = store.NewLocal(store.LocalConfig{Dir: cfg.StoreDir, Link: cfg.StoreLinks})
	} else {
		blob, err = store.NewS3(ctx, cfg.S3)
	}
	if err != nil {
		return nil, err
	}
	conn, err := queue.Connect(ctx, cfg.NATS)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Conn: conn, Blob: blob}
	tc := TasksConfig()
	tc.Replicas = cfg.Replicas
	fc := fleet.BucketConfig(cfg.Heartbeat)
	fc.Replicas = cfg.Replicas
	if c.Tasks, err = conn.Tasks(ctx, tc); err != nil {
		conn.Close()
		return nil, openError(err, cfg.Replicas)
	}
	if c.State, err = conn.State(ctx, queue.StateConfig{Bucket: Bucket, Replicas: cfg.Replicas}); err != nil {
		conn.Close()
		return nil, openError(err, cfg.Replicas)
	}
	if c.Fleet, err = conn.State(ctx, fc); err != nil {
		conn.Close()
		return nil, openError(err, cfg.Replicas)
	}
	return c, nil
}

// openError is a failure to open the stream or a bucket, in one line; asking a single server for replicas says
// which flag asked.
func openError(err error, replicas int) error {
	if errors.Is(err, queue.ErrReplicasUnsupported) {
		return fmt.Errorf("--nats-replicas %d: %w", replicas, queue.ErrReplicasUnsupported)
	}
	return fmt.Errorf("nats: %w", err)
}

// Close closes the NATS connection.
func (c *Cluster) Close() { c.Conn.Close() }
