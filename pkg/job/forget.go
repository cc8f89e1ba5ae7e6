package job

import (
	"context"
	"errors"
)

// What Forget needs of the cluster: the task queue, the KV state and the blob store (pkg/queue and pkg/store
// provide them).
type (
	TaskPurger interface {
		PurgeSubject(ctx context.Context, subject string) error
	}
	KeyDeleter interface {
		Keys(ctx context.Context, prefix string) ([]string, error)
		Delete(ctx context.Context, key string) error
	}
	BlobDeleter interface {
		DeletePrefix(ctx context.Context, prefix string) error
	}
)

// Forget removes what a job left in the cluster, its record aside: queued tasks, the plan, commits, progress,
// waiting notes and failure counts, and its files (with keepInputs, the submitted source and target stay, for a
// retry). It goes on past a failure and returns every one met, so a second call finishes what a first could not.
func Forget(ctx context.Context, tasks TaskPurger, state KeyDeleter, blob BlobDeleter, id string, keepInputs bool) error {
	errs := []error{tasks.PurgeSubject(ctx, Subject(id))}
	for _, p := range SegmentKeyPrefixes(id) {
		keys, err := state.Keys(ctx, p)
		errs = append(errs, err)
		for _, k := range keys {
			errs = append(errs, state.Delete(ctx, k))
		}
	}
	errs = append(errs, state.Delete(ctx, PlanKey(id)), state.Delete(ctx, FailureKey(id)))
	if !keepInputs {
		return errors.Join(append(errs, blob.DeletePrefix(ctx, Prefix(id)))...)
	}
	for _, p := range []string{"segments/", "results/"} {
		errs = append(errs, blob.DeletePrefix(ctx, Prefix(id)+p))
	}
	return errors.Join(errs...)
}
