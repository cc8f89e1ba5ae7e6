// Package fault tells a worker's own trouble from a segment's. The worker's own trouble (its disk is full, its
// memory ran out, a model would not load, the storage or the queue cannot be reached) says nothing about the
// segment: another worker, or the same one a little later, will likely succeed. Such a failure is retried with a
// backoff or handed to another worker, and never counts against the segment's failure budget; everything else (a
// decode error, input the pipeline refuses) is the segment's.
//
// Errors are classified where they are born (pkg/store, pkg/queue, pkg/media, pkg/engine) by wrapping one of the
// class sentinels below, so callers branch with errors.Is and never on an error's text.
package fault

import (
	"errors"
	"syscall"
)

// The classes of a worker's own trouble. Their texts are what a job's status shows while it waits.
var (
	ErrStorage     = errors.New("storage unreachable")
	ErrQueue       = errors.New("queue unreachable")
	ErrDiskFull    = errors.New("disk full")
	ErrOutOfMemory = errors.New("out of memory")
	ErrModel       = errors.New("model cannot load")
)

// classes in the order Of tests them: a download that fails because the local disk is full is disk trouble even
// though it came from the store.
var classes = []error{ErrDiskFull, ErrOutOfMemory, ErrModel, ErrStorage, ErrQueue}

// Of returns the class of err when err is a worker's own trouble, and nil when it is the segment's (or nil). The
// system's ENOSPC and EDQUOT are disk trouble and ENOMEM memory trouble wherever they were wrapped.
func Of(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ErrDiskFull
	case errors.Is(err, syscall.ENOMEM):
		return ErrOutOfMemory
	}
	for _, c := range classes {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// New returns a package's own sentinel, with its own text, that belongs to class: errors.Is matches both the
// sentinel and the class.
func New(text string, class error) error { return &classed{text: text, class: class} }

type classed struct {
	text  string
	class error
}

func (e *classed) Error() string { return e.text }
func (e *classed) Unwrap() error { return e.class }
