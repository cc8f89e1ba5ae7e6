package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrKeyExists is returned (wrapped) by Create when the key holds a value.
var ErrKeyExists = errors.New("key exists")

// ErrConflict is returned (wrapped) by Update when the key's revision is no longer the one given, and by Modify
// when it lost the race too many times in a row.
var ErrConflict = errors.New("revision conflict")

// ErrKeyNotFound is returned (wrapped) by Get for a key that was never set or was deleted.
var ErrKeyNotFound = errors.New("key not found")

// StateConfig describes a KV bucket.
type StateConfig struct {
	Bucket  string        // letters, digits, '-' and '_'
	TTL     time.Duration // how long an entry lives after its last write; 0 = forever
	History int           // values kept per key, 1..64; default 1
	Storage string        // "file" (default) or "memory"
	// Replicas is how many servers of a NATS cluster keep the bucket, as TasksConfig.Replicas.
	Replicas int
}

// Validate reports a configuration Conn.State cannot use.
func (c StateConfig) Validate() error {
	var errs []error
	if !validName(c.Bucket) {
		errs = append(errs, fmt.Errorf("bucket name %q must be letters, digits, '-' or '_'", c.Bucket))
	}
	if c.TTL < 0 {
		errs = append(errs, fmt.Errorf("negative TTL %s", c.TTL))
	}
	if c.History < 0 || c.History > jetstream.KeyValueMaxHistory {
		errs = append(errs, fmt.Errorf("History %d out of 1..%d", c.History, jetstream.KeyValueMaxHistory))
	}
	if _, err := parseStorage(c.Storage); err != nil {
		errs = append(errs, err)
	}
	if err := checkReplicas(c.Replicas); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("queue: state config: %w", err)
	}
	return nil
}

// State is a KV bucket. Keys are NATS subject tokens: letters, digits and "-_=/", separated by '.' (for example
// "job.7f3a.segment.0003").
type State struct {
	kv jetstream.KeyValue
	js jetstream.JetStream
	// cfg is the bucket's configuration, to create a memory bucket again after a server restart lost it.
	cfg jetstream.KeyValueConfig
}

// Entry is one value of a key. Deleted marks a delete (only Watch delivers those).
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	Deleted  bool
	Created  time.Time // when this revision was written
}

// State creates the bucket, or updates its settings if it exists.
func (c *Conn) State(ctx context.Context, cfg StateConfig) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	storage, _ := parseStorage(cfg.Storage)
	history := max(cfg.History, 1)
	replicas, raised := c.replicasFor(ctx, kvStreamPrefix+cfg.Bucket, cfg.Replicas)
	kc := jetstream.KeyValueConfig{
		Bucket:  cfg.Bucket,
		TTL:     cfg.TTL,
		History: uint8(history),
		Storage: storage,
		// The bucket is the stream KV_<bucket>: updating the bucket updates the stream's replicas.
		Replicas: replicas,
	}
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, kc)
	if err == nil && raised {
		err = c.waitReplicated(ctx, kvStreamPrefix+cfg.Bucket, replicas)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: state: bucket %s: %w", cfg.Bucket, replicasError(err))
	}
	return &State{kv: kv, js: c.js, cfg: kc}, nil
}

// recreate makes a memory bucket again when a write finds its stream gone (a server restart loses memory
// streams; the heartbeats kept there stopped for good: every coordinator looked dead until some process started
// and created the bucket). It reports whether the write is worth retrying. File buckets survive restarts, so a
// missing one is an error to report, not to paper over.
func (s *State) recreate(ctx context.Context, err error) bool {
	if s.js == nil || s.cfg.Storage != jetstream.MemoryStorage || !errors.Is(err, jetstream.ErrNoStreamResponse) {
		return false
	}
	_, cerr := s.js.CreateOrUpdateKeyValue(ctx, s.cfg)
	return cerr == nil
}

// Create sets key only if it holds no value (never set, or deleted), and returns the new revision.
func (s *State) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := s.kv.Create(ctx, key, value)
	if err != nil {
		if isWrongLastSequence(err) {
			err = ErrKeyExists
		}
		return 0, fmt.Errorf("queue: create %s: %w", key, unavailable(ctx, err))
	}
	return rev, nil
}

// Get returns key's current value.
func (s *State) Get(ctx context.Context, key string) (Entry, error) {
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			err = ErrKeyNotFound
		}
		return Entry{}, fmt.Errorf("queue: get %s: %w", key, unavailable(ctx, err))
	}
	return toEntry(e), nil
}

// Put sets key whatever it holds, and returns the new revision.
func (s *State) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := s.kv.Put(ctx, key, value)
	if err != nil && s.recreate(ctx, err) {
		rev, err = s.kv.Put(ctx, key, value)
	}
	if err != nil {
		return 0, fmt.Errorf("queue: put %s: %w", key, unavailable(ctx, err))
	}
	return rev, nil
}

// Update sets key only if its current revision is rev (compare-and-set), and returns the new revision.
func (s *State) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	newRev, err := s.kv.Update(ctx, key, value, rev)
	if err != nil {
		if isWrongLastSequence(err) {
			err = ErrConflict
		}
		return 0, fmt.Errorf("queue: update %s: %w", key, unavailable(ctx, err))
	}
	return newRev, nil
}

// Delete removes key's value (a delete marker, which Watch reports). A missing key is not an error.
func (s *State) Delete(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("queue: delete %s: %w", key, unavailable(ctx, err))
	}
	return nil
}

// Keys returns the sorted keys that start with prefix and hold a value; "" means all. No match is an empty
// slice. A prefix ending in '.' ("job.abc.") is matched by the server with "job.abc.>"; any other prefix is
// narrowed on the server to its last whole token and finished here.
func (s *State) Keys(ctx context.Context, prefix string) ([]string, error) {
	filter := ">"
	if i := strings.LastIndexByte(prefix, '.'); i >= 0 {
		filter = prefix[:i+1] + ">"
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	lister, err := s.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("queue: keys %s: %w", prefix, err)
	}
	keys := []string{}
	for k := range lister.Keys() {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	// The lister closes its channel on ctx's end as on completion; only ctx tells them apart.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue: keys %s: %w", prefix, err)
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// Watch delivers the current value of every key matching pattern (a NATS subject filter such as "job.abc.>" or
// "worker.*"), then each change, deletes included (Deleted set), until ctx ends or the connection closes; then
// the channel closes. A slow reader holds up delivery rather than losing entries. Entries removed by the bucket's
// TTL are not reported (they simply stop being there).
func (s *State) Watch(ctx context.Context, pattern string) (<-chan Entry, error) {
	if pattern == "" {
		pattern = ">"
	}
	// The library ties the watch to ctx too: it unsubscribes when ctx ends.
	w, err := s.kv.Watch(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("queue: watch %s: %w", pattern, unavailable(ctx, err))
	}
	out := make(chan Entry, 64)
	go func() {
		defer close(out)
		updates := w.Updates()
		stop := func() {
			_ = w.Stop()
			// The library closes updates from its delivery goroutine, which may be blocked sending to us.
			for range updates {
			}
		}
		for {
			select {
			case e, ok := <-updates:
				if !ok {
					return
				}
				if e == nil {
					continue // the marker that initial values are done
				}
				select {
				case out <- toEntry(e):
				case <-ctx.Done():
					stop()
					return
				}
			case <-ctx.Done():
				stop()
				return
			}
		}
	}()
	return out, nil
}

// maxModifyAttempts bounds Modify's read-modify-write retries.
const maxModifyAttempts = 50

// Modify reads key, passes its value to fn (nil if the key holds none) and writes fn's result with compare-and-set
// (Create for a missing key, Update otherwise), starting over when another writer got in between. fn may run more
// than once and must have no side effects; its error aborts Modify and is returned wrapped. Modify returns the new
// revision, or ErrConflict after too many lost races.
func (s *State) Modify(ctx context.Context, key string, fn func(old []byte) ([]byte, error)) (uint64, error) {
	for attempt := 0; attempt < maxModifyAttempts; attempt++ {
		if attempt > 0 {
			// A short, growing, jittered pause spreads out writers that keep colliding.
			d := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(attempt, 10))))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return 0, fmt.Errorf("queue: modify %s: %w", key, ctx.Err())
			}
		}
		cur, err := s.Get(ctx, key)
		missing := errors.Is(err, ErrKeyNotFound)
		if err != nil && !missing {
			return 0, fmt.Errorf("queue: modify %s: %w", key, err)
		}
		var old []byte
		if !missing {
			old = cur.Value
		}
		next, err := fn(old)
		if err != nil {
			return 0, fmt.Errorf("queue: modify %s: %w", key, err)
		}
		var rev uint64
		if missing {
			rev, err = s.Create(ctx, key, next)
		} else {
			rev, err = s.Update(ctx, key, next, cur.Revision)
		}
		switch {
		case err == nil:
			return rev, nil
		case errors.Is(err, ErrKeyExists), errors.Is(err, ErrConflict):
			continue
		default:
			return 0, fmt.Errorf("queue: modify %s: %w", key, err)
		}
	}
	return 0, fmt.Errorf("queue: modify %s: %w after %d attempts", key, ErrConflict, maxModifyAttempts)
}

func toEntry(e jetstream.KeyValueEntry) Entry {
	return Entry{
		Key:      e.Key(),
		Value:    e.Value(),
		Revision: e.Revision(),
		Deleted:  e.Operation() != jetstream.KeyValuePut,
		Created:  e.Created(),
	}
}

// isWrongLastSequence reports the server's compare-and-set failure: JetStream API error 10071 (10164 on replicated
// streams). jetstream.ErrKeyExists matches 10071 by code, so a stale Update also "is" ErrKeyExists; callers map by
// operation instead.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
