package testenv

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that the goroutines of the code under test write and the test reads at once (a
// daemon's log, a run's progress line).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
